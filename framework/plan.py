"""`run.dry_run=true`: print the resolved plan and every problem, without loading weights."""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from framework.config.validate import all_problems, apply_context, build_method
from framework.training.trainer_factory import hardware_to_trainer_kwargs


def render_plan(cfg: DictConfig) -> str:
    """The composed config, the Trainer settings and the combination problems, as text."""
    hw = cfg.hardware
    kwargs = hardware_to_trainer_kwargs(
        hw.accelerator, hw.devices, hw.num_nodes, hw.strategy, hw.precision
    )
    method = build_method(cfg.method)
    ctx = apply_context(cfg)
    problems = all_problems(cfg)
    lines = [
        "# hydratune dry run: nothing was loaded",
        OmegaConf.to_yaml(cfg, resolve=True).rstrip(),
        "",
        "# plan",
        f"method: {method.name} ({method.capabilities.description})",
        f"target modules: {', '.join(ctx.target_modules) or '(method default)'}",
        f"trainer: {kwargs} max_steps={cfg.trainer.max_steps}",
        "problems: " + ("none" if not problems else ""),
        *[f"  - {p}" for p in problems],
    ]
    return "\n".join(lines)
