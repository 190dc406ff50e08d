"""Per-step options applied to the adapted model: gradient checkpointing and torch.compile."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepOptions:
    """Flat settings (trainer.gradient_checkpointing, trainer.compile)."""

    gradient_checkpointing: bool = False
    compile: bool = False


def transformers_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside a PEFT wrapper (the model itself otherwise)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model  # type: ignore[no-any-return]


def blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's transformer blocks (the classes transformers never splits across devices)."""
    names = set(getattr(transformers_model(model), "_no_split_modules", None) or ())
    return [m for m in model.modules() if type(m).__name__ in names]


def apply_step_options(model: torch.nn.Module, options: StepOptions) -> None:
    """Enable gradient checkpointing and/or compile each block in place (parameter names, and so
    checkpoints and saved adapters, stay as they are)."""
    if options.gradient_checkpointing:
        enable_gradient_checkpointing(model)
    if options.compile:
        found = blocks(model)
        if not found:
            raise RuntimeError(f"{type(model).__name__}: no transformer blocks to compile")
        for block in found:
            block.compile()
        log.info("torch.compile: %d transformer blocks", len(found))


def enable_gradient_checkpointing(model: torch.nn.Module) -> None:
    """Non-reentrant activation checkpointing of every block; for any method: adapters, prompt
    methods and full fine-tuning (non-reentrant recomputation needs no input that requires
    grad, and the embeddings' output is made to require one for the reentrant-minded PEFT)."""
    base = transformers_model(model)
    enable = getattr(base, "gradient_checkpointing_enable", None)
    if not callable(enable) or not getattr(base, "supports_gradient_checkpointing", False):
        raise RuntimeError(f"{type(base).__name__} does not support gradient checkpointing")
    enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    require = getattr(base, "enable_input_require_grads", None)
    if callable(require):
        require()
