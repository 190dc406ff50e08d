"""The `optim` group: flat optimizer and schedule settings."""

from __future__ import annotations

from omegaconf import DictConfig

from framework.training.optim import OptimizerSpec


def build_optimizer_spec(
    optim: DictConfig, *, total_steps: int, cpu_offload: bool = False, has_head: bool = False
) -> OptimizerSpec:
    """Flat optimizer settings (cpu_offload: ZeRO offload steps it with DeepSpeedCPUAdam;
    has_head: the task trains a fresh head, which gets optim.head_lr_ratio x the LR)."""
    betas = tuple(float(b) for b in optim.betas)
    return OptimizerSpec(
        name=str(optim.name),
        lr=float(optim.lr),
        weight_decay=float(optim.weight_decay),
        betas=(betas[0], betas[1]),
        eps=float(optim.eps),
        momentum=float(optim.momentum),
        scheduler=str(optim.scheduler),
        warmup_steps=int(optim.warmup_steps),
        total_steps=total_steps,
        cpu_offload=cpu_offload,
        head_lr_ratio=float(optim.head_lr_ratio) if has_head else 1.0,
    )
