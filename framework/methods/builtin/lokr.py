"""LoKr: the weight update as a Kronecker product of a small and a low-rank factor (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.config.schema import MethodConfig
from framework.methods.base import Capabilities
from framework.methods.peft_fields import TargetedPeftMethod
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class LoKrConfig(MethodConfig):
    """LoKr hyper-parameters (names follow peft.LoKrConfig)."""

    r: int = 8
    alpha: int = 8
    decompose_both: bool = False  # also factor the small Kronecker factor
    decompose_factor: int = -1  # -1: factors as close to sqrt(dim) as possible
    rank_dropout: float = 0.0
    module_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("lokr")
class LoKr(TargetedPeftMethod[LoKrConfig]):
    """Low-rank Kronecker product: dW = W1 kron (W2a @ W2b)."""

    config_class = LoKrConfig
    capabilities = Capabilities(
        mergeable=True,
        task_types=TASK_NAMES,
        description="Kronecker product of a small and a low-rank factor; very few params",
    )
    peft_config = "LoKrConfig"
    ranges = {"r": (1, 4096), "rank_dropout": (0, 0.99), "module_dropout": (0, 0.99)}
