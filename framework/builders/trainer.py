"""The `trainer`, `logger` and `run` groups: Lightning Trainer arguments, loggers, callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

if TYPE_CHECKING:
    import pytorch_lightning as pl

    from framework.training.callbacks import Throughput


# Runs up to this many steps validate once per epoch (and before and after training): cheap
# tests; longer runs validate every max(10, max_steps // 5) steps unless told otherwise.
DEFAULT_SCHEDULE_FROM_STEPS = 50


def validation_schedule(interval: float | None, max_steps: int, accumulate: int) -> dict[str, Any]:
    """Lightning's val_check_interval (and check_val_every_n_epoch) for trainer.val_check_interval.

    Above 1 it counts optimizer steps, across epoch boundaries; at most 1.0 it is Lightning's
    fraction of an epoch; None picks the default schedule above.
    """
    if interval is None:
        if max_steps <= DEFAULT_SCHEDULE_FROM_STEPS:
            return {"val_check_interval": None}
        every = max(10, max_steps // 5)
    elif float(interval) > 1:
        every = int(interval)
    else:
        return {"val_check_interval": float(interval)}
    # Lightning counts batches: an optimizer step is `accumulate` of them.
    return {"val_check_interval": every * accumulate, "check_val_every_n_epoch": None}


def trainer_arguments(trainer: DictConfig) -> dict[str, Any]:
    """Trainer keys passed by name to Lightning."""
    schedule = validation_schedule(
        trainer.val_check_interval, int(trainer.max_steps), int(trainer.accumulate_grad_batches)
    )
    return {
        **schedule,
        "max_steps": int(trainer.max_steps),
        "max_epochs": trainer.max_epochs if trainer.max_epochs is not None else -1,
        "accumulate_grad_batches": int(trainer.accumulate_grad_batches),
        "gradient_clip_val": trainer.gradient_clip_val,
        "log_every_n_steps": int(trainer.log_every_n_steps),
        "limit_val_batches": trainer.limit_val_batches,
        "enable_progress_bar": bool(trainer.enable_progress_bar),
        "deterministic": bool(trainer.deterministic),
    }


def build_loggers(
    backend: str, *, run_dir: str, project: str, run_name: str, wandb_mode: str
) -> list[Any]:
    """The experiment tracker (csv, tensorboard or wandb), always with logs/metrics.csv too.

    The CSV file feeds the loss curve and the model card whatever the tracker is; a resumed
    run appends to it.
    """
    from framework.training.csv_history import AppendingCSVLogger

    csv = AppendingCSVLogger(save_dir=run_dir, name="logs", version="")
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


def build_callbacks(cfg: DictConfig, run_dir: Path) -> tuple[list[pl.Callback], Throughput]:
    """The run's callbacks (checkpoints, preemption, progress) and the throughput meter."""
    from framework.training.callbacks import DataPosition, Throughput
    from framework.training.checkpointing import FiniteLossGuard, RollingCheckpoint
    from framework.training.preemption import Preemption
    from framework.training.progress import StepProgressBar
    from framework.training.step_times import StepTimes

    throughput = Throughput(cfg.trainer.log_every_n_steps)
    checkpoints = (
        RollingCheckpoint(run_dir / "checkpoints", int(cfg.run.checkpoint_every_n_steps))
        if cfg.run.save_checkpoints
        else None
    )
    callbacks: list[pl.Callback] = [
        throughput,
        DataPosition(),
        FiniteLossGuard(checkpoints, int(cfg.trainer.log_every_n_steps)),
        Preemption(checkpoints),
    ]
    if checkpoints is not None:
        callbacks.append(checkpoints)
    if cfg.trainer.enable_progress_bar:
        callbacks.append(StepProgressBar(throughput, int(cfg.trainer.log_every_n_steps)))
    if cfg.run.step_times:
        callbacks.append(StepTimes(run_dir / "step_times.csv"))
    callbacks.append(best_weights(cfg.run))
    return callbacks, throughput


def best_weights(run: DictConfig) -> pl.Callback:
    """The best-check tracker: run.keep_best's metric (weights kept, restored at the end), or
    val/loss only recorded (the card's best step) when keep_best is null."""
    from framework.tasks.monitor import higher_is_better
    from framework.training.best import BestWeights

    keep = run.keep_best is not None
    metric = str(run.keep_best) if keep else "val/loss"
    patience = run.early_stopping_patience
    return BestWeights(
        metric,
        higher_is_better(metric),
        keep=keep,
        patience=int(patience) if patience is not None else None,
    )


def slurm_environment() -> list[Any]:
    """Inside a SLURM job: Lightning's SLURM environment (ranks from srun) without its own
    USR1 auto-requeue; requeueing is submitit's, after framework.training.preemption's
    checkpoint."""
    from pytorch_lightning.plugins.environments import SLURMEnvironment

    return [SLURMEnvironment(auto_requeue=False)] if SLURMEnvironment.detect() else []


def build_trainer(
    cfg: DictConfig,
    *,
    hardware_kwargs: dict[str, Any],
    run_dir: Path,
    callbacks: list[pl.Callback],
) -> pl.Trainer:
    """The Lightning Trainer: where (hardware), how long (trainer.*), what it records."""
    import pytorch_lightning as pl

    from framework.training.checkpointing import AtomicCheckpointIO

    loggers = build_loggers(
        str(cfg.logger.backend),
        run_dir=str(run_dir),
        project=str(cfg.logger.project),
        run_name=str(cfg.run.name),
        wandb_mode=str(cfg.logger.wandb_mode),
    )
    return pl.Trainer(
        **hardware_kwargs,
        **trainer_arguments(cfg.trainer),
        default_root_dir=str(run_dir),
        logger=loggers,
        callbacks=callbacks,
        enable_checkpointing=False,  # RollingCheckpoint saves (atomically, see plugins)
        plugins=[AtomicCheckpointIO(), *slurm_environment()],
        num_sanity_val_steps=0,
        inference_mode=False,  # eval metrics keep normal tensors across validate and fit
        use_distributed_sampler=False,  # the datamodule shards by rank (resumable)
    )
