"""OFT: a learned block-diagonal orthogonal rotation of each target's input space (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import (
    peft_task_type,
    range_problems,
    resolve_targets,
    wrap_with_peft,
)
from framework.methods.registry import register_method

if TYPE_CHECKING:
    import torch


@dataclass
class OftConfig(MethodConfig):
    """OFT hyper-parameters (names follow peft.OFTConfig; r=0 derives blocks from the size)."""

    oft_block_size: int = 32  # must divide every target's input features
    module_dropout: float = 0.0
    coft: bool = False  # constrained OFT: keep the rotation within eps of identity
    eps: float = 6e-5
    block_share: bool = False  # one rotation block shared by all blocks of a layer
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("oft")
class OFT(Method[OftConfig]):
    """Orthogonal fine-tuning: W' = W R with R block-diagonal and orthogonal (Cayley)."""

    config_class = OftConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls", "token_cls", "qa"),
        description="block-diagonal orthogonal rotation of inputs; preserves neuron angles",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = range_problems(
            {
                "oft_block_size": (cfg.oft_block_size, 1, 65536),
                "module_dropout": (cfg.module_dropout, 0, 0.99),
            }
        )
        if not resolve_targets(cfg.target_modules, ctx):
            found.append("method.target_modules is empty and the model preset names none")
        return found

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import OFTConfig as PeftOFTConfig

        cfg = self.config
        config = PeftOFTConfig(
            r=0,
            oft_block_size=cfg.oft_block_size,
            module_dropout=cfg.module_dropout,
            coft=cfg.coft,
            eps=cfg.eps,
            block_share=cfg.block_share,
            target_modules=resolve_targets(cfg.target_modules, ctx),
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
