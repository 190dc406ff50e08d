"""DoRA: LoRA with the weight decomposed into magnitude and direction (PEFT use_dora)."""

from __future__ import annotations

from dataclasses import dataclass

from framework.methods.base import Capabilities
from framework.methods.builtin.lora import LoraConfig, LoraFamily
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES


@dataclass
class DoraConfig(LoraConfig):
    """DoRA takes LoRA's knobs; the magnitude vector is learned on top."""


@register_method("dora")
class DoRA(LoraFamily[DoraConfig]):
    """Weight-decomposed low-rank adaptation."""

    config_class = DoraConfig
    use_dora = True
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        starts_as_base=True,
        task_types=TASK_NAMES,
        description="LoRA direction update plus a learned magnitude per output feature",
    )
