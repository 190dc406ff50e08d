"""Prompt tuning: trained soft-prompt embeddings prepended to the input (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import peft_task_type, range_problems, wrap_with_peft
from framework.methods.registry import register_method

if TYPE_CHECKING:
    import torch

PROMPT_MERGE_REFUSAL = (
    "it learns virtual input tokens, not weight updates, so there is nothing to fold into "
    "the base weights"
)


@dataclass
class PromptConfig(MethodConfig):
    """Soft-prompt length (names follow peft.PromptTuningConfig; random initialization)."""

    num_virtual_tokens: int = 20


@register_method("prompt")
class Prompt(Method[PromptConfig]):
    """Prompt tuning: only the soft-prompt embeddings train."""

    config_class = PromptConfig
    capabilities = Capabilities(
        mergeable=False,
        merge_refusal=PROMPT_MERGE_REFUSAL,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls"),
        targets="none",
        description="a learned soft prompt of virtual input embeddings; fewest parameters",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        return range_problems({"num_virtual_tokens": (self.config.num_virtual_tokens, 1, 1024)})

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import PromptTuningConfig

        config = PromptTuningConfig(
            num_virtual_tokens=self.config.num_virtual_tokens,
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
