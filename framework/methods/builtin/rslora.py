"""rsLoRA: LoRA scaled by alpha/sqrt(r) instead of alpha/r, stable at high rank (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass

from framework.methods.base import Capabilities
from framework.methods.builtin.lora import LoraConfig, LoraFamily
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class RsLoraConfig(LoraConfig):
    """LoRA's knobs with rank-stabilized scaling on."""

    use_rslora: bool = True


@register_method("rslora")
class RsLoRA(LoraFamily[RsLoraConfig]):
    """Rank-stabilized LoRA."""

    config_class = RsLoraConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        starts_as_base=True,
        task_types=TASK_NAMES,
        description="LoRA with alpha/sqrt(r) scaling; higher ranks keep learning",
    )
