"""The Method contract: a typed config, declared capabilities, and apply(model)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from framework.config.schema import MethodConfig

if TYPE_CHECKING:
    import torch

ConfigT = TypeVar("ConfigT", bound=MethodConfig)


@dataclass(frozen=True)
class Capabilities:
    """What a method can do and what it needs; checked before any weight is loaded."""

    mergeable: bool = False
    produces_adapter: bool = True  # False: the whole model is saved (full fine-tuning)
    quantized_base: bool = False  # needs / supports a 4- or 8-bit base
    requires_quantized_base: bool = False
    task_types: tuple[str, ...] = ("causal_lm",)
    refuses_strategies: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ApplyContext:
    """What a method needs to know about the model it adapts (flat values, no config)."""

    architecture: str
    task: str
    target_modules: tuple[str, ...]
    num_layers: int
    extra: dict[str, Any] = field(default_factory=dict)


class Method(Generic[ConfigT]):
    """A fine-tuning method: subclass, set config_class/capabilities, implement apply."""

    name: ClassVar[str] = ""
    config_class: ClassVar[type[MethodConfig]] = MethodConfig
    capabilities: ClassVar[Capabilities] = Capabilities()

    def __init__(self, config: ConfigT) -> None:
        self.config = config

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        """Return the model adapted for training; only the method's params trainable."""
        raise NotImplementedError

    def problems(self, ctx: ApplyContext) -> list[str]:
        """Config problems found before loading weights (empty when fine)."""
        return []

    def on_train_step_end(self, model: torch.nn.Module, step: int) -> None:
        """Hook for methods that need per-step work (e.g. AdaLoRA budget allocation)."""
