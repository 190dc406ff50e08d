"""Full fine-tuning: every parameter of the base model trains."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES

if TYPE_CHECKING:
    import torch


@dataclass
class FullConfig(MethodConfig):
    """Full fine-tuning has no knobs of its own; lr and friends live in optim."""


@register_method("full")
class Full(Method[FullConfig]):
    """Train all weights; the run saves the whole model instead of an adapter."""

    config_class = FullConfig
    capabilities = Capabilities(
        mergeable=False,
        produces_adapter=False,
        task_types=TASK_NAMES,
        targets="none",
        description="all parameters train; largest memory, no adapter",
    )

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        model.requires_grad_(True)
        return model
