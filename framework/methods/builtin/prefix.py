"""Prefix tuning: trained virtual key/value tokens prepended in every attention layer (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import peft_task_type, range_problems, wrap_with_peft
from framework.methods.registry import register_method

if TYPE_CHECKING:
    import torch


@dataclass
class PrefixConfig(MethodConfig):
    """Prefix length and optional reparameterization (names follow peft.PrefixTuningConfig)."""

    num_virtual_tokens: int = 20
    prefix_projection: bool = False  # train through an MLP (more parameters, often steadier)
    encoder_hidden_size: int = 512  # the MLP's width when prefix_projection is on


@register_method("prefix")
class Prefix(Method[PrefixConfig]):
    """Prefix tuning: the model attends to learned past keys/values; weights stay untouched."""

    config_class = PrefixConfig
    capabilities = Capabilities(
        mergeable=False,
        merge_refusal=(
            "prefix tuning adds trained virtual key/value tokens to every attention layer; "
            "nothing changes in the weights, so there is nothing to fold into them"
        ),
        quantized_base=True,
        task_types=("causal_lm", "seq_cls"),
        targets="none",
        description="learned key/value prefixes in every layer; base weights untouched",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        return range_problems(
            {
                "num_virtual_tokens": (cfg.num_virtual_tokens, 1, 1024),
                "encoder_hidden_size": (cfg.encoder_hidden_size, 1, 65536),
            }
        )

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import PrefixTuningConfig

        cfg = self.config
        config = PrefixTuningConfig(
            num_virtual_tokens=cfg.num_virtual_tokens,
            prefix_projection=cfg.prefix_projection,
            encoder_hidden_size=cfg.encoder_hidden_size,
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
