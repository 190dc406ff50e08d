"""run.find_lr=true: Lightning's learning-rate finder on the composed run; plot and suggestion."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
