"""Per-step timestamps (run.step_times=true): step_times.csv in the run dir, for benchmarks."""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

import pytorch_lightning as pl

HEADER = "step,unix_time,cpu_seconds,tokens\n"


class StepTimes(pl.Callback):
    """Appends one line per optimizer step: global step, wall-clock time, process CPU time,
    non-padding tokens.

    The line is flushed as the step ends, so a reader can follow a live run (time to the first
    step) and compute steady-state seconds per step from consecutive timestamps. Rank 0 only.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists()
        self._handle = self.path.open("a", buffering=1)  # line-buffered: each step is on disk
        if fresh:
            self._handle.write(HEADER)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._handle is None:
            return
        now, cpu = time.time(), time.process_time()  # CPU time: robust to other load
        tokens = int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0
        self._handle.write(f"{trainer.global_step},{now:.6f},{cpu:.6f},{tokens}\n")

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
