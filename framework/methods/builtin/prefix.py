"""Prefix tuning: trained virtual key/value tokens prepended in every attention layer (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass

from framework.config.schema import MethodConfig
from framework.methods.builtin.prompt import virtual_token_capabilities
from framework.methods.peft_fields import PeftFieldsMethod
from framework.methods.registry import register_method


@dataclass
class PrefixConfig(MethodConfig):
    """Prefix length and optional reparameterization (names follow peft.PrefixTuningConfig)."""

    num_virtual_tokens: int = 20
    prefix_projection: bool = False  # train through an MLP (more parameters, often steadier)
    encoder_hidden_size: int = 512  # the MLP's width when prefix_projection is on


@register_method("prefix")
class Prefix(PeftFieldsMethod[PrefixConfig]):
    """Prefix tuning: the model attends to learned past keys/values; weights stay untouched."""

    config_class = PrefixConfig
    capabilities = virtual_token_capabilities(
        "learned key/value prefixes in every layer; base weights untouched",
        merge_refusal=(
            "prefix tuning adds trained virtual key/value tokens to every attention layer; "
            "nothing changes in the weights, so there is nothing to fold into them"
        ),
    )
    peft_config = "PrefixTuningConfig"
    ranges = {"num_virtual_tokens": (1, 1024), "encoder_hidden_size": (1, 65536)}
