"""Shared helpers for methods implemented with PEFT (imports peft lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.methods.base import ApplyContext
from framework.tasks.registry import task_spec

if TYPE_CHECKING:
    import torch


def wrap_with_peft(model: torch.nn.Module, peft_config: Any) -> torch.nn.Module:
    """Apply a PEFT config; only the adapter's parameters stay trainable."""
    from peft import get_peft_model

    return get_peft_model(model, peft_config)


def peft_task_type(task: str) -> str:
    """PEFT's task type name for one of our task names."""
    return task_spec(task).peft_task_type


def resolve_targets(configured: list[str], ctx: ApplyContext) -> list[str]:
    """The method's own target_modules, else the architecture's default for the method."""
    return list(configured or ctx.target_modules)


def target_module_problems(configured: list[str], ctx: ApplyContext) -> list[str]:
    """The problem of a method left with no target modules (empty when it has some)."""
    if resolve_targets(configured, ctx):
        return []
    return ["method.target_modules is empty and the model preset names none"]


def method_range_problems(values: dict[str, tuple[float, float, float]]) -> list[str]:
    """Problems for values outside [low, high]: {key: (value, low, high)}."""
    return [
        f"method.{key}={value} is out of range (allowed {low} to {high})"
        for key, (value, low, high) in values.items()
        if not low <= value <= high
    ]
