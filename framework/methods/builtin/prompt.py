"""Prompt tuning: trained soft-prompt embeddings prepended to the input (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass

from framework.config.schema import MethodConfig
from framework.methods.base import Capabilities
from framework.methods.peft_fields import PeftFieldsMethod
from framework.methods.registry import register_method

PROMPT_MERGE_REFUSAL = (
    "it learns virtual input tokens, not weight updates, so there is nothing to fold into "
    "the base weights"
)


def virtual_token_capabilities(
    description: str, merge_refusal: str = PROMPT_MERGE_REFUSAL
) -> Capabilities:
    """Capabilities shared by the methods that learn virtual tokens (prompt, p-tuning, prefix)."""
    return Capabilities(
        mergeable=False,
        merge_refusal=merge_refusal,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls"),
        targets="none",
        description=description,
    )


@dataclass
class PromptConfig(MethodConfig):
    """Soft-prompt length (names follow peft.PromptTuningConfig; random initialization)."""

    num_virtual_tokens: int = 20


@register_method("prompt")
class Prompt(PeftFieldsMethod[PromptConfig]):
    """Prompt tuning: only the soft-prompt embeddings train."""

    config_class = PromptConfig
    capabilities = virtual_token_capabilities(
        "a learned soft prompt of virtual input embeddings; fewest parameters"
    )
    peft_config = "PromptTuningConfig"
    ranges = {"num_virtual_tokens": (1, 1024)}
