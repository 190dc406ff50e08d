"""LoHa: the weight update as a Hadamard product of two low-rank products (PEFT, LyCORIS)."""

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
class LoHaConfig(MethodConfig):
    """LoHa hyper-parameters (names follow peft.LoHaConfig)."""

    r: int = 8
    alpha: int = 8
    rank_dropout: float = 0.0
    module_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("loha")
class LoHa(Method[LoHaConfig]):
    """Low-rank Hadamard product: dW = (W1a @ W1b) * (W2a @ W2b)."""

    config_class = LoHaConfig
    capabilities = Capabilities(
        mergeable=True,
        task_types=("causal_lm", "seq_cls", "token_cls", "qa"),
        description="Hadamard product of two low-rank pairs; rank r^2 for 2x LoRA's params",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = range_problems(
            {
                "r": (cfg.r, 1, 4096),
                "rank_dropout": (cfg.rank_dropout, 0, 0.99),
                "module_dropout": (cfg.module_dropout, 0, 0.99),
            }
        )
        if not resolve_targets(cfg.target_modules, ctx):
            found.append("method.target_modules is empty and the model preset names none")
        return found

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import LoHaConfig as PeftLoHaConfig

        cfg = self.config
        config = PeftLoHaConfig(
            r=cfg.r,
            alpha=cfg.alpha,
            rank_dropout=cfg.rank_dropout,
            module_dropout=cfg.module_dropout,
            target_modules=resolve_targets(cfg.target_modules, ctx),
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
