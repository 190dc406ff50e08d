"""The experiment trackers a Trainer logs to (csv always, plus tensorboard or wandb)."""

from __future__ import annotations

from typing import Any


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
