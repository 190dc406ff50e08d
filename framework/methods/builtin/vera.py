"""VeRA: frozen random low-rank matrices shared by all layers, with trained scaling vectors."""

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
class VeraConfig(MethodConfig):
    """VeRA hyper-parameters (names follow peft.VeraConfig)."""

    r: int = 256  # rank of the shared random matrices (cheap: only r scalars train per layer)
    dropout: float = 0.0
    d_initial: float = 0.1  # initial value of the trained d vector
    projection_prng_key: int = 0  # seed of the shared random projections
    save_projection: bool = True  # store the projections in the adapter (exact reload)
    target_modules: list[str] = field(default_factory=list)  # empty: model's default


@register_method("vera")
class VeRA(Method[VeraConfig]):
    """Vector-based random matrix adaptation: dW = diag(b) B diag(d) A with A, B frozen."""

    config_class = VeraConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls", "token_cls", "qa"),
        description="shared frozen random projections, two trained vectors per layer",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = range_problems({"r": (cfg.r, 1, 65536), "dropout": (cfg.dropout, 0, 0.99)})
        if not resolve_targets(cfg.target_modules, ctx):
            found.append("method.target_modules is empty and the model preset names none")
        return found

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import VeraConfig as PeftVeraConfig

        cfg = self.config
        config = PeftVeraConfig(
            r=cfg.r,
            vera_dropout=cfg.dropout,
            d_initial=cfg.d_initial,
            projection_prng_key=cfg.projection_prng_key,
            save_projection=cfg.save_projection,
            target_modules=resolve_targets(cfg.target_modules, ctx),
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
