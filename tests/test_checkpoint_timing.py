"""A step's checkpoint is written once the step is done: its rows are in logs/metrics.csv and
the validation due at that step has run, so a run killed right after the checkpoint appears
loses no row and its resume does not skip that validation."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

from framework.hardware.machine import Machine
from framework.hardware.plan import HardwareSpec, resolve_plan
from framework.training.best import BestWeights
from framework.training.job import Job
from tests.helpers import TINY, compose_config


class OnDiskAtSave(pl.Callback):
    """What a kill -9 right after each checkpoint would leave: metrics.csv's train/loss steps
    and the best check, read while the checkpoint is being written."""

    def __init__(self, csv_path: Path) -> None:
        self.csv_path = csv_path
        self.seen: dict[int, tuple[list[int], list[int], Any]] = {}

    def on_save_checkpoint(
        self, trainer: pl.Trainer, module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        with self.csv_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        train = [int(r["step"]) for r in rows if r.get("train/loss")]
        val = [int(r["step"]) for r in rows if r.get("val/loss")]
        best = next(c for c in trainer.callbacks if isinstance(c, BestWeights))  # type: ignore[attr-defined]
        self.seen[trainer.global_step] = (train, val, best.report().get("best_step"))


def test_checkpoint_follows_the_steps_logging_and_validation(tmp_path: Path) -> None:
    cfg = compose_config(
        [
            *[a for a in TINY if not a.startswith("trainer.max_steps")],
            f"paths.run_dir={tmp_path / 'run'}",
            "trainer.max_steps=4",
            "run.checkpoint_every_n_steps=2",
            "trainer.val_check_interval=2",
            "run.keep_best=val/loss",
        ]
    )
    plan = resolve_plan(HardwareSpec.of_run(cfg), Machine.detect(probe_torch=True))
    job = Job.from_config(cfg, plan)
    spy = OnDiskAtSave(tmp_path / "run" / "logs" / "metrics.csv")
    job.trainer.callbacks.append(spy)  # type: ignore[attr-defined]
    job.fit()
    assert sorted(spy.seen) == [2, 4]
    train, val, best_step = spy.seen[2]
    assert train == [0, 1]  # step 2's own row (logged as step index 1) is already on disk
    assert 1 in val  # and the validation due at step 2 has run
    assert best_step == 2
    train, val, _ = spy.seen[4]
    assert train == [0, 1, 2, 3]
