"""QLoRA: LoRA on a 4-bit NF4 base (bitsandbytes, double quantization, fp32 compute on CPU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from framework.methods.base import ApplyContext, Capabilities
from framework.methods.builtin.lora import LoraConfig, LoraFamily
from framework.methods.registry import register_method
from framework.models.quantization import QuantizationSpec

if TYPE_CHECKING:
    import torch

QUANTIZED_REFUSALS = {
    "fsdp": "Lightning's FSDP cannot shard bitsandbytes-quantized weights",
    "model_parallel": "FSDP2 (fully_shard) cannot shard bitsandbytes-quantized weights",
    "deepspeed_stage_3": "ZeRO-3 partitions parameters and cannot partition a quantized base",
    "deepspeed_stage_3_offload": "ZeRO-3 cannot partition or offload a quantized base",
}
# QLoRA shards under ZeRO-3: there its 4-bit weights are stored in the compute dtype
# (bnb_4bit_quant_storage, framework.hardware.plan.quantization_for); trained with 2
# CPU ranks in tests/test_hardware.py. FSDP (and QDoRA, 8-bit under ZeRO-3) stay refused.
QLORA_REFUSALS = {k: v for k, v in QUANTIZED_REFUSALS.items() if not k.startswith("deepspeed")}
QUANTIZED_MERGE_REFUSAL = (
    "its base is quantized, and folding the adapter into quantized weights re-rounds them "
    "and loses the update; load the adapter on the full-precision base "
    "(PeftModel.from_pretrained) and merge there"
)


def quantized_capabilities(description: str, refuses: dict[str, str]) -> Capabilities:
    """Capabilities of LoRA-family methods that load their base through bitsandbytes."""
    return Capabilities(
        mergeable=False,
        merge_refusal=QUANTIZED_MERGE_REFUSAL,
        merges_dequantized=True,
        quantized_base=True,
        requires_quantized_base=True,
        starts_as_base=True,
        refuses_strategies=refuses,
        description=description,
    )


@dataclass
class QLoraConfig(LoraConfig):
    """LoRA's knobs plus how the base is quantized (names follow BitsAndBytesConfig)."""

    quant_type: str = "nf4"  # nf4 | fp4
    double_quant: bool = True
    compute_dtype: str = "float32"  # bfloat16 on GPUs; float32 on CPU (bf16 is slow there)
    quant_storage: str = "uint8"
    gradient_checkpointing: bool = False  # trade compute for activation memory


QLoraConfigT = TypeVar("QLoraConfigT", bound=QLoraConfig)


class QuantizedLoraFamily(LoraFamily[QLoraConfigT]):
    """LoRA (or DoRA) on a base loaded 4-bit; prepares it for k-bit training first."""

    config_class = QLoraConfig

    def quantization(self) -> QuantizationSpec:
        cfg = self.config
        return QuantizationSpec(
            bits=4,
            quant_type=cfg.quant_type,
            double_quant=cfg.double_quant,
            compute_dtype=cfg.compute_dtype,
            quant_storage=cfg.quant_storage,
        )

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import prepare_model_for_kbit_training

        prepared = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=self.config.gradient_checkpointing
        )
        return super().apply(prepared, ctx)


@register_method("qlora")
class QLoRA(QuantizedLoraFamily[QLoraConfig]):
    """Quantized LoRA: a frozen 4-bit NF4 base with full-precision low-rank adapters."""

    capabilities = quantized_capabilities(
        "LoRA on a 4-bit NF4 base (bitsandbytes, double quantization)", QLORA_REFUSALS
    )
