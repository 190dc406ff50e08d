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


def build_loggers(
    backend: str, run_dir: str, project: str, run_name: str, wandb_mode: str
) -> list[Any]:
    """The experiment tracker (csv, tensorboard or wandb), always with logs/metrics.csv too.

    The CSV file feeds the loss curve and the model card whatever the tracker is.
    """
    from pytorch_lightning.loggers import CSVLogger

    csv = CSVLogger(save_dir=run_dir, name="logs", version="")
    if backend == "tensorboard":
        from pytorch_lightning.loggers import TensorBoardLogger

        return [TensorBoardLogger(save_dir=run_dir, name="logs", version=""), csv]
    if backend == "wandb":
        from pytorch_lightning.loggers import WandbLogger

        wandb = WandbLogger(project=project, name=run_name, save_dir=run_dir, mode=wandb_mode)
        return [wandb, csv]
    return [csv]


def close_loggers(loggers: list[Any], failed: bool = False) -> None:
    """Finish wandb runs explicitly: offline runs otherwise may exit before their records
    are written, and a sweep's next job would attach to the same run."""
    for logger in loggers:
        experiment = getattr(logger, "_experiment", None)
        if experiment is not None and hasattr(experiment, "finish"):
            experiment.finish(exit_code=1 if failed else 0)
