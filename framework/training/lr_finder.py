"""run.find_lr=true: Lightning's learning-rate finder on the composed run; plot and suggestion.
optim.lr=auto: the same finder first, then the run trains at its suggestion."""

from __future__ import annotations

import logging
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from framework.config.strict import is_auto_lr
from framework.errors import RunAborted

if TYPE_CHECKING:
    from framework.hardware.plan import HardwarePlan
    from framework.training.job import Job

log = logging.getLogger(__name__)

MIN_LR, MAX_LR = 1e-6, 1.0
MIN_TRIAL_STEPS, MAX_TRIAL_STEPS = 20, 100


def trial_steps(max_steps: int) -> int:
    """Steps of the LR sweep: trainer.max_steps, clipped to [20, 100]."""
    return max(MIN_TRIAL_STEPS, min(MAX_TRIAL_STEPS, max_steps))


def find_lr(job: Job) -> dict[str, Any]:
    """Sweep the LR exponentially from 1e-6 to 1 over trial_steps steps (every parameter group
    at the same LR: the head ratio is not applied during the sweep), save lr_finder.png and
    lr_finder.json in the run dir, print and return the suggestion (None when the loss curve
    gives none). The weights are restored afterwards by Lightning; nothing is trained."""
    import matplotlib

    matplotlib.use("Agg")
    from pytorch_lightning.tuner import Tuner

    steps = trial_steps(int(job.cfg.trainer.max_steps))
    result = Tuner(job.trainer).lr_find(
        job.module,
        datamodule=job.datamodule,
        min_lr=MIN_LR,
        max_lr=MAX_LR,
        num_training=steps,
        update_attr=False,
    )
    if result is None:  # not rank 0
        return {}
    suggestion = result.suggestion()
    report: dict[str, Any] = {
        "suggested_lr": float(suggestion) if suggestion is not None else None,
        "trial_steps": steps,
        "lr": [float(x) for x in result.results["lr"]],
        "loss": [float(x) for x in result.results["loss"]],
    }
    if job.trainer.is_global_zero:
        _write(job.run_dir, result, report)
        if suggestion is None:
            print("LR finder: no suggestion (the loss did not fall); see lr_finder.png")
        else:
            print(
                f"LR finder: suggested optim.lr={suggestion:.3g} (steepest fall of the loss "
                f"over {steps} steps from {MIN_LR:g} to {MAX_LR:g}); "
                f"plot: {job.run_dir / 'lr_finder.png'}"
            )
    return report


def _write(run_dir: Path, result: Any, report: dict[str, Any]) -> None:
    from framework.training.artifacts import write_json_atomically

    run_dir.mkdir(parents=True, exist_ok=True)
    figure = result.plot(suggest=report["suggested_lr"] is not None, show=False)
    figure.savefig(str(run_dir / "lr_finder.png"))
    write_json_atomically(run_dir / "lr_finder.json", report)


def with_lr(cfg: DictConfig, lr: float) -> DictConfig:
    """A copy of the run's config (its schema types and flags kept) with optim.lr a number."""
    copy = deepcopy(cfg)
    copy.optim.lr = float(lr)
    return copy


def resolve_auto_lr(
    cfg: DictConfig, plan: HardwarePlan, *, resuming: bool
) -> tuple[DictConfig, dict[str, Any]]:
    """The config the run trains with, and what metrics.json records about its LR.

    optim.lr=auto: the LR finder runs on its own copy of the job (built, swept, discarded:
    the run itself then starts exactly as one with optim.lr=<suggestion> typed by hand), and
    the run trains at the suggestion. A resumed run reuses the suggestion its first attempt
    recorded in lr_finder.json. No suggestion (the loss never fell) stops the run (exit 2).
    With run.find_lr=true the sweep sets every LR itself: any number stands in for auto.
    """
    if not is_auto_lr(cfg.optim.lr):
        return cfg, {}
    if cfg.run.find_lr:
        return with_lr(cfg, MIN_LR), {}
    record = Path(str(cfg.paths.run_dir)) / "lr_finder.json"
    found = _recorded(record) if resuming else None
    if found is None:
        found = _sweep(with_lr(cfg, MIN_LR), plan)
    else:
        log.info("optim.lr=auto: the LR found by the first attempt, %.3g (%s)", found, record)
    if found is None:
        raise RunAborted(
            "optim.lr=auto: the LR finder gave no suggestion (the loss did not fall between "
            f"{MIN_LR:g} and {MAX_LR:g}); see {record.with_suffix('.png')} and set optim.lr "
            "to a number"
        )
    log.info("optim.lr=auto: training at the LR finder's suggestion %.3g", found)
    return with_lr(cfg, found), {"lr_auto": True, "lr_found": found}


def _recorded(record: Path) -> float | None:
    """The suggestion a previous attempt of this run wrote, if any."""
    if not record.is_file():
        return None
    import json

    value = json.loads(record.read_text()).get("suggested_lr")
    return float(value) if value is not None else None


def _sweep(cfg: DictConfig, plan: HardwarePlan) -> float | None:
    """Build a throwaway job, run the finder on it, agree the suggestion across ranks."""
    import gc

    from framework.builders.trainer import close_loggers
    from framework.training.job import Job

    job = Job.from_config(cfg, plan)
    try:
        report = find_lr(job)
        found = job.trainer.strategy.broadcast(report.get("suggested_lr"), 0)
    finally:
        close_loggers(job.trainer.loggers)
    del job, report
    gc.collect()
    return float(found) if found is not None else None
