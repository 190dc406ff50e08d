"""P-tuning: virtual input tokens produced by a small trained prompt encoder (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.builtin.prompt import PROMPT_MERGE_REFUSAL
from framework.methods.peft_common import peft_task_type, range_problems, wrap_with_peft
from framework.methods.registry import register_method

if TYPE_CHECKING:
    import torch

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
class PTuning(Method[PTuningConfig]):
    """P-tuning: an MLP/LSTM encoder generates the virtual tokens; the base is frozen."""

    config_class = PTuningConfig
    capabilities = Capabilities(
        mergeable=False,
        merge_refusal=PROMPT_MERGE_REFUSAL,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls"),
        targets="none",
        description="virtual input tokens from a trained MLP/LSTM prompt encoder",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = range_problems(
            {
                "num_virtual_tokens": (cfg.num_virtual_tokens, 1, 1024),
                "encoder_hidden_size": (cfg.encoder_hidden_size, 1, 65536),
                "encoder_dropout": (cfg.encoder_dropout, 0, 0.99),
            }
        )
        if cfg.encoder_reparameterization_type not in ENCODER_TYPES:
            found.append(
                f"method.encoder_reparameterization_type='{cfg.encoder_reparameterization_type}' "
                f"is not allowed (allowed: {', '.join(ENCODER_TYPES)})"
            )
        return found

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import PromptEncoderConfig

        cfg = self.config
        config = PromptEncoderConfig(
            num_virtual_tokens=cfg.num_virtual_tokens,
            encoder_reparameterization_type=cfg.encoder_reparameterization_type,
            encoder_hidden_size=cfg.encoder_hidden_size,
            encoder_num_layers=cfg.encoder_num_layers,
            encoder_dropout=cfg.encoder_dropout,
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
