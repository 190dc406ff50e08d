"""LoKr: the weight update as a Kronecker product of a small and a low-rank factor (PEFT)."""

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
class LoKrConfig(MethodConfig):
    """LoKr hyper-parameters (names follow peft.LoKrConfig)."""

    r: int = 8
    alpha: int = 8
    decompose_both: bool = False  # also factor the small Kronecker factor
    decompose_factor: int = -1  # -1: factors as close to sqrt(dim) as possible
    rank_dropout: float = 0.0
    module_dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("lokr")
class LoKr(Method[LoKrConfig]):
    """Low-rank Kronecker product: dW = W1 kron (W2a @ W2b)."""

    config_class = LoKrConfig
    capabilities = Capabilities(
        mergeable=True,
        task_types=("causal_lm", "seq_cls", "token_cls", "qa"),
        description="Kronecker product of a small and a low-rank factor; very few params",
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
        from peft import LoKrConfig as PeftLoKrConfig

        cfg = self.config
        config = PeftLoKrConfig(
            r=cfg.r,
            alpha=cfg.alpha,
            decompose_both=cfg.decompose_both,
            decompose_factor=cfg.decompose_factor,
            rank_dropout=cfg.rank_dropout,
            module_dropout=cfg.module_dropout,
            target_modules=resolve_targets(cfg.target_modules, ctx),
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
