"""Map the hardware preset (plus trainer keys) to Lightning Trainer kwargs: one function."""

from __future__ import annotations

from typing import Any

from framework.training.hardware_plan import plan_hardware


def hardware_to_trainer_kwargs(**hardware: Any) -> dict[str, Any]:
    """The Trainer arguments that decide where and how the run executes.

    `hardware` holds plan_hardware's preset arguments (hardware_plan.hardware_arguments).

    "auto" values are resolved against this machine (CUDA devices, bf16 support, launcher
    environment) by plan_hardware; the strategy is built as an object (DDP, DeepSpeed that
    also runs on the CPU, or FSDP2 through ModelParallelStrategy).
    """
    import torch

    from framework.training.strategies import build_strategy

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    plan = plan_hardware(**hardware, gpus=gpus, bf16=bool(gpus) and torch.cuda.is_bf16_supported())
    return {
        "accelerator": plan.accelerator,
        "devices": plan.devices,
        "num_nodes": plan.num_nodes,
        "strategy": build_strategy(plan),
        "precision": plan.precision,
    }
