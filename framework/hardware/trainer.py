"""The Lightning Trainer arguments that decide where and how a run executes, from its plan."""

from __future__ import annotations

from typing import Any

from framework.hardware.plan import HardwarePlan


def trainer_kwargs(plan: HardwarePlan) -> dict[str, Any]:
    """accelerator, devices, num_nodes, strategy (built as an object: DDP, DeepSpeed that also
    runs on the CPU, or FSDP2 through ModelParallelStrategy) and precision."""
    from framework.hardware.strategies import build_strategy

    return {
        "accelerator": plan.accelerator,
        "devices": plan.devices,
        "num_nodes": plan.num_nodes,
        "strategy": build_strategy(plan),
        "precision": plan.precision,
    }
