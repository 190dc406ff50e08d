"""Map the hardware preset (plus trainer keys) to Lightning Trainer kwargs: one function."""

from __future__ import annotations

from typing import Any


def hardware_to_trainer_kwargs(
    accelerator: str, devices: Any, num_nodes: int, strategy: str, precision: str
) -> dict[str, Any]:
    """The Trainer arguments that decide where and how the run executes."""
    return {
        "accelerator": accelerator,
        "devices": devices,
        "num_nodes": num_nodes,
        "strategy": strategy,
        "precision": precision,
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


def close_loggers(loggers: list[Any]) -> None:
    """Finish wandb runs explicitly: offline runs otherwise may exit before their records
    are written, and a sweep's next job would attach to the same run."""
    for logger in loggers:
        experiment = getattr(logger, "_experiment", None)
        if experiment is not None and hasattr(experiment, "finish"):
            experiment.finish()
