"""QDoRA: DoRA on a 4-bit NF4 base (bitsandbytes), the quantized form of weight decomposition."""

from __future__ import annotations

from dataclasses import dataclass

from framework.methods.base import Capabilities
from framework.methods.builtin.qlora import (
    QUANTIZED_MERGE_REFUSAL,
    QUANTIZED_REFUSALS,
    QLoraConfig,
    QuantizedLoraFamily,
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
    capabilities = Capabilities(
        mergeable=False,
        merge_refusal=QUANTIZED_MERGE_REFUSAL,
        merges_dequantized=True,
        quantized_base=True,
        requires_quantized_base=True,
        refuses_strategies=QUANTIZED_REFUSALS,
        description="DoRA on a 4-bit NF4 base (bitsandbytes)",
    )
