"""The Method contract: a typed config, declared capabilities, and apply(model)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from framework.config.schema import MethodConfig
from framework.tasks.registry import CAUSAL_LM

if TYPE_CHECKING:
    import torch

    from framework.models.quantization import QuantizationSpec

ConfigT = TypeVar("ConfigT", bound=MethodConfig)


@dataclass(frozen=True)
class Capabilities:
    """What a method can do and what it needs; checked before any weight is loaded."""

    mergeable: bool = False
    merge_refusal: str = ""  # why run.merge=true is refused (shown to the user)
    merges_dequantized: bool = False  # export.py folds it in once the base is dequantized
    produces_adapter: bool = True  # False: the whole model is saved (full fine-tuning)
    quantized_base: bool = False  # works on a 4- or 8-bit base
    requires_quantized_base: bool = False  # loads its base quantized through bitsandbytes
    # At init the adapted model computes exactly what its base computes, and PEFT's
    # disable_adapter() gives the untouched base back: the before-training metrics are then
    # measured after training, adapter disabled, instead of before the first step.
    starts_as_base: bool = False
    task_types: tuple[str, ...] = (CAUSAL_LM,)
    targets: str = "linear"  # module set adapted by default (framework.models.architectures)
    supports_strategies: tuple[str, ...] = ()  # empty: every strategy it does not refuse
    refuses_strategies: Mapping[str, str] = field(default_factory=dict)  # strategy -> why
    description: str = ""


@dataclass(frozen=True)
class ApplyContext:
    """What a method needs to know about the model it adapts (flat values, no config)."""

    architecture: str
    task: str
    target_modules: tuple[str, ...]  # the architecture's modules of Capabilities.targets
    num_layers: int  # 0 when unknown before loading
    feedforward_modules: tuple[str, ...] = ()  # the architecture's MLP output projections
    total_steps: int = 0  # optimizer steps the run will take (trainer.max_steps)
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

    def quantization(self) -> QuantizationSpec | None:
        """How the base must be loaded quantized (bitsandbytes), or None for full precision."""
        return None

    def starts_as_base(self) -> bool:
        """Capabilities.starts_as_base for this config (a setting may break it)."""
        return self.capabilities.starts_as_base

    def param_groups(self, model: torch.nn.Module, lr: float) -> list[dict[str, Any]]:
        """Optimizer parameter groups over the trainable parameters (one group by default)."""
        return [{"params": [p for p in model.parameters() if p.requires_grad]}]

    def on_train_step_end(self, model: torch.nn.Module, step: int) -> None:
        """Hook for methods that need per-step work (e.g. AdaLoRA budget allocation)."""

    def checkpoint_state(self, model: torch.nn.Module) -> dict[str, Any]:
        """State the method keeps outside the weights and optimizer (e.g. AdaLoRA's rank
        allocator), saved in every checkpoint so a resume continues exactly: tensors, lists and
        plain values only (checkpoints load with weights_only=True). None by default."""
        return {}

    def load_checkpoint_state(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        """Restore what checkpoint_state saved (called on resume, after the model is built)."""

    def merge(self, model: torch.nn.Module) -> torch.nn.Module:
        """Fold the trained adapter into the base weights; return the plain model."""
        if not self.capabilities.mergeable:
            raise NotImplementedError(f"method '{self.name}' is not mergeable")
        return model.merge_and_unload()  # type: ignore[operator]
