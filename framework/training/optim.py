"""Optimizer and LR schedule from flat arguments."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class OptimizerSpec:
    """Flat optimizer settings (built from the optim config by the builder)."""

    name: str
    lr: float
    weight_decay: float
    betas: tuple[float, float]
    eps: float
    momentum: float
    scheduler: str
    warmup_steps: int
    total_steps: int
    cpu_offload: bool = False  # ZeRO offload: DeepSpeed steps the optimizer on the CPU
    head_lr_ratio: float = 1.0  # LR multiplier of a fresh task head (1.0: one LR for all)


ParamGroups = list[dict[str, Any]]


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | ParamGroups, spec: OptimizerSpec
) -> torch.optim.Optimizer:
    """AdamW (fused on CUDA, foreach elsewhere), bitsandbytes 8-bit AdamW (paged or not) or
    SGD over the trainable parameters (plain, or groups with their own lr).

    With ZeRO offload, AdamW is DeepSpeedCPUAdam (same update; DeepSpeed refuses a torch
    optimizer for offloaded states). Its C++ op compiles on first use (cached).
    """
    trainable = trainable_groups(params)
    if spec.cpu_offload:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(  # type: ignore[no-any-return]
            trainable,
            lr=spec.lr,
            betas=spec.betas,
            eps=spec.eps,
            weight_decay=spec.weight_decay,
            adamw_mode=True,
        )
    if spec.name == "sgd":
        return torch.optim.SGD(
            trainable, lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    if spec.name in EIGHT_BIT:
        import bitsandbytes as bnb

        cls = bnb.optim.PagedAdamW8bit if spec.name == "paged_adamw_8bit" else bnb.optim.AdamW8bit
        return cls(  # type: ignore[no-any-return]
            trainable, lr=spec.lr, betas=spec.betas, eps=spec.eps, weight_decay=spec.weight_decay
        )
    return torch.optim.AdamW(
        trainable,
        lr=spec.lr,
        betas=spec.betas,
        eps=spec.eps,
        weight_decay=spec.weight_decay,
        **adamw_kernel(trainable),
    )


EIGHT_BIT = ("adamw_8bit", "paged_adamw_8bit")


def adamw_kernel(groups: ParamGroups) -> dict[str, bool]:
    """The fastest AdamW implementation for where the parameters live: one fused kernel on
    CUDA (plain float tensors), otherwise the multi-tensor (foreach) loop; same update."""
    params = [p for g in groups for p in g["params"]]
    on_cuda = bool(params) and all(
        p.is_cuda and p.is_floating_point() and type(p.data) is torch.Tensor for p in params
    )
    return {"fused": True} if on_cuda else {"foreach": True}


def trainable_groups(params: Iterable[torch.nn.Parameter] | ParamGroups) -> ParamGroups:
    """Parameter groups holding only trainable parameters; empty groups are dropped."""
    items = list(params)
    groups = [g for g in items if isinstance(g, dict)] or [{"params": items}]
    kept = [{**g, "params": [p for p in g["params"] if p.requires_grad]} for g in groups]
    return [g for g in kept if g["params"]]


def with_head_lr(groups: ParamGroups, head_ids: set[int], lr: float, ratio: float) -> ParamGroups:
    """Split each group into its backbone/adapter part and its task-head part; the head part
    learns at ratio x the group's LR (a fresh, randomly initialised head needs more)."""
    if ratio == 1.0 or not head_ids:
        return groups
    out: ParamGroups = []
    for group in groups:
        params = list(group["params"])
        rest = [p for p in params if id(p) not in head_ids]
        head = [p for p in params if id(p) in head_ids]
        if rest:
            out.append({**group, "params": rest})
        if head:
            out.append({**group, "params": head, "lr": float(group.get("lr", lr)) * ratio})
    return out


def lr_factor(step: int, spec: OptimizerSpec) -> float:
    """Multiplier of the base LR at `step`: linear warm-up then constant/linear/cosine."""
    if spec.warmup_steps and step < spec.warmup_steps:
        return (step + 1) / spec.warmup_steps
    if spec.scheduler == "constant":
        return 1.0
    span = max(1, spec.total_steps - spec.warmup_steps)
    progress = min(1.0, (step - spec.warmup_steps) / span)
    if spec.scheduler == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: OptimizerSpec
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step LambdaLR following lr_factor."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, spec))
