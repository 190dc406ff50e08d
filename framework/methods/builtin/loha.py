"""LoHa: the weight update as a Hadamard product of two low-rank products (PEFT, LyCORIS)."""

from __future__ import annotations

from dataclasses import dataclass, field

from framework.config.schema import MethodConfig
from framework.methods.base import Capabilities
from framework.methods.peft_fields import TargetedPeftMethod
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class LoHaConfig(MethodConfig):
    """LoHa hyper-parameters (names follow peft.LoHaConfig)."""

    r: int = 8
    alpha: int = 8
    rank_dropout: float = 0.0
    module_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("loha")
class LoHa(TargetedPeftMethod[LoHaConfig]):
    """Low-rank Hadamard product: dW = (W1a @ W1b) * (W2a @ W2b)."""

    config_class = LoHaConfig
    capabilities = Capabilities(
        mergeable=True,
        task_types=TASK_NAMES,
        description="Hadamard product of two low-rank pairs; rank r^2 for 2x LoRA's params",
    )
    peft_config = "LoHaConfig"
    ranges = {"r": (1, 4096), "rank_dropout": (0, 0.99), "module_dropout": (0, 0.99)}
