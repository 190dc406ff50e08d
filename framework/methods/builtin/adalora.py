"""AdaLoRA: SVD-form LoRA whose rank budget is reallocated across layers while training (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import (
    method_range_problems,
    peft_task_type,
    resolve_targets,
    target_module_problems,
    wrap_with_peft,
)
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES

if TYPE_CHECKING:
    import torch

# RankAllocator's per-parameter importance scores (PEFT's names).
ALLOCATOR_SCORES = ("ipt", "exp_avg_ipt", "exp_avg_unc")


@dataclass
class AdaLoraConfig(MethodConfig):
    """AdaLoRA's ranks and budget schedule; the schedule is a fraction of trainer.max_steps."""

    init_r: int = 12  # rank every target starts with
    target_r: int = 8  # average rank kept after pruning
    alpha: int = 32
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default
    tinit_fraction: float = 0.1  # share of steps before pruning starts
    tfinal_fraction: float = 0.2  # share of final steps with the budget fixed
    delta_t: int = 1  # steps between budget reallocations
    beta1: float = 0.85  # EMA of sensitivity
    beta2: float = 0.85  # EMA of uncertainty


@register_method("adalora")
class AdaLoRA(Method[AdaLoraConfig]):
    """Adaptive budget allocation: update_and_allocate(step) runs after every optimizer step."""

    config_class = AdaLoraConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=TASK_NAMES,
        description="LoRA in SVD form; ranks pruned to a budget by importance while training",
    )

    def _schedule(self, total_steps: int) -> tuple[int, int]:
        cfg = self.config
        return int(total_steps * cfg.tinit_fraction), int(total_steps * cfg.tfinal_fraction)

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = method_range_problems(
            {
                "init_r": (cfg.init_r, 1, 4096),
                "target_r": (cfg.target_r, 1, cfg.init_r),
                "dropout": (cfg.dropout, 0, 0.99),
                "tinit_fraction": (cfg.tinit_fraction, 0, 1),
                "tfinal_fraction": (cfg.tfinal_fraction, 0, 1),
                "delta_t": (cfg.delta_t, 1, 10**9),
            }
        )
        tinit, tfinal = self._schedule(ctx.total_steps)
        if tinit + tfinal >= ctx.total_steps:
            found.append(
                f"method=adalora leaves no budgeting phase: tinit ({tinit}) + tfinal ({tfinal}) "
                f"steps must be fewer than trainer.max_steps={ctx.total_steps}; lower "
                "method.tinit_fraction / method.tfinal_fraction"
            )
        return found + target_module_problems(cfg.target_modules, ctx)

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import AdaLoraConfig as PeftAdaLoraConfig

        cfg = self.config
        tinit, tfinal = self._schedule(ctx.total_steps)
        config = PeftAdaLoraConfig(
            init_r=cfg.init_r,
            target_r=cfg.target_r,
            lora_alpha=cfg.alpha,
            lora_dropout=cfg.dropout,
            target_modules=resolve_targets(cfg.target_modules, ctx),
            total_step=ctx.total_steps,
            tinit=tinit,
            tfinal=tfinal,
            deltaT=cfg.delta_t,
            beta1=cfg.beta1,
            beta2=cfg.beta2,
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)

    def on_train_step_end(self, model: torch.nn.Module, step: int) -> None:
        model.base_model.update_and_allocate(step)  # type: ignore[union-attr,operator]

    def checkpoint_state(self, model: torch.nn.Module) -> dict[str, Any]:
        """The rank allocator's importance scores (their moving averages drive every later
        pruning) and the rank pattern (the mask the final phase keeps applying). The budget
        schedule is a function of the step and the config, which the checkpoint also holds."""
        tuner, config = _tuner_and_config(model)
        allocator = tuner.rankallocator
        scores = {
            name: {k: v.detach().cpu().clone() for k, v in getattr(allocator, name).items()}
            for name in ALLOCATOR_SCORES
        }
        return {**scores, "rank_pattern": dict(config.rank_pattern or {})}

    def load_checkpoint_state(self, model: torch.nn.Module, state: dict[str, Any]) -> None:
        tuner, config = _tuner_and_config(model)
        allocator = tuner.rankallocator
        params = dict(tuner.model.named_parameters())
        for name in ALLOCATOR_SCORES:
            saved = state[name]
            setattr(allocator, name, {k: v.to(params[k].device) for k, v in saved.items()})
        config.rank_pattern = dict(state["rank_pattern"]) or None


def _tuner_and_config(model: torch.nn.Module) -> tuple[Any, Any]:
    """PEFT's AdaLoraModel (holding the rank allocator) and the trained adapter's config."""
    tuner: Any = model.base_model
    return tuner, tuner.peft_config[tuner.trainable_adapter_name]
