"""QDoRA: DoRA on a 4-bit NF4 base (bitsandbytes), the quantized form of weight decomposition."""

from __future__ import annotations

from dataclasses import dataclass

from framework.methods.builtin.qlora import (
    QUANTIZED_REFUSALS,
    QLoraConfig,
    QuantizedLoraFamily,
    quantized_capabilities,
)
from framework.methods.registry import register_method


@dataclass
class QDoraConfig(QLoraConfig):
    """QLoRA's knobs; a magnitude vector per output feature is learned on top."""


@register_method("qdora")
class QDoRA(QuantizedLoraFamily[QDoraConfig]):
    """Weight-decomposed low-rank adaptation on a 4-bit base."""

    config_class = QDoraConfig
    use_dora = True
    capabilities = quantized_capabilities(
        "DoRA on a 4-bit NF4 base (bitsandbytes)", QUANTIZED_REFUSALS
    )
