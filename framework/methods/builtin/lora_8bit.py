"""LoRA on an 8-bit base (bitsandbytes LLM.int8())."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.methods.base import ApplyContext
from framework.methods.builtin.lora import LoraConfig, LoraFamily
from framework.methods.builtin.qlora import QUANTIZED_REFUSALS, quantized_capabilities
from framework.methods.registry import register_method
from framework.models.quantization import QuantizationSpec

if TYPE_CHECKING:
    import torch

CAST_NOTICE = "MatMul8bitLt: inputs will be cast"


class _RepeatedCastNotice(logging.Filter):
    """bitsandbytes logs the fp32->fp16 input cast on every int8 matmul; keep the first."""

    def __init__(self) -> None:
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith(CAST_NOTICE):
            return True
        first, self.seen = not self.seen, True
        return first


@dataclass
class Lora8bitConfig(LoraConfig):
    """LoRA's knobs plus the LLM.int8() outlier threshold."""

    int8_threshold: float = 6.0
    gradient_checkpointing: bool = False


@register_method("lora_8bit")
class Lora8bit(LoraFamily[Lora8bitConfig]):
    """LoRA adapters over a frozen int8 base."""

    config_class = Lora8bitConfig
    capabilities = quantized_capabilities(
        "LoRA on an 8-bit LLM.int8() base (bitsandbytes)", QUANTIZED_REFUSALS
    )

    def quantization(self) -> QuantizationSpec:
        return QuantizationSpec(bits=8, int8_threshold=self.config.int8_threshold)

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import prepare_model_for_kbit_training

        bnb_logger = logging.getLogger("bitsandbytes.autograd._functions")
        if not any(isinstance(f, _RepeatedCastNotice) for f in bnb_logger.filters):
            bnb_logger.addFilter(_RepeatedCastNotice())
        prepared = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=self.config.gradient_checkpointing
        )
        return super().apply(prepared, ctx)
