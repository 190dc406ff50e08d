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
    """The experiment tracker for the run (csv, tensorboard or wandb)."""
    if backend == "tensorboard":
        from pytorch_lightning.loggers import TensorBoardLogger

        return [TensorBoardLogger(save_dir=run_dir, name="logs", version="")]
    if backend == "wandb":
        from pytorch_lightning.loggers import WandbLogger

        return [WandbLogger(project=project, name=run_name, save_dir=run_dir, mode=wandb_mode)]
    from pytorch_lightning.loggers import CSVLogger

    return [CSVLogger(save_dir=run_dir, name="logs", version="")]
