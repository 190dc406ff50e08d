"""P-tuning: virtual input tokens produced by a small trained prompt encoder (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext
from framework.methods.builtin.prompt import virtual_token_capabilities
from framework.methods.peft_fields import PeftFieldsMethod
from framework.methods.registry import register_method

ENCODER_TYPES = ("MLP", "LSTM")


@dataclass
class PTuningConfig(MethodConfig):
    """Prompt encoder shape (names follow peft.PromptEncoderConfig)."""

    num_virtual_tokens: int = 20
    encoder_reparameterization_type: str = "MLP"  # MLP | LSTM
    encoder_hidden_size: int = 128
    encoder_num_layers: int = 2
    encoder_dropout: float = 0.0


@register_method("ptuning")
class PTuning(PeftFieldsMethod[PTuningConfig]):
    """P-tuning: an MLP/LSTM encoder generates the virtual tokens; the base is frozen."""

    config_class = PTuningConfig
    capabilities = virtual_token_capabilities(
        "virtual input tokens from a trained MLP/LSTM prompt encoder"
    )
    peft_config = "PromptEncoderConfig"
    ranges = {
        "num_virtual_tokens": (1, 1024),
        "encoder_hidden_size": (1, 65536),
        "encoder_dropout": (0, 0.99),
    }

    def problems(self, ctx: ApplyContext) -> list[str]:
        found = super().problems(ctx)
        kind = self.config.encoder_reparameterization_type
        if kind not in ENCODER_TYPES:
            found.append(
                f"method.encoder_reparameterization_type='{kind}' "
                f"is not allowed (allowed: {', '.join(ENCODER_TYPES)})"
            )
        return found
