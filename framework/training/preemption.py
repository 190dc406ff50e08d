"""Preemption: on SIGTERM or SIGUSR1, save a checkpoint at the next step end and exit cleanly."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

import pytorch_lightning as pl

from framework.training.checkpointing import RollingCheckpoint

log = logging.getLogger(__name__)

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(SystemExit):
    """Raised after the preemption checkpoint is written; exits the process with code 0."""


class Preemption(pl.Callback):
    """Records a preemption signal; at the next batch end saves a checkpoint and stops."""

    def __init__(self, checkpoints: RollingCheckpoint | None) -> None:
        self.checkpoints = checkpoints
        self.signal_received: int | None = None
        if threading.current_thread() is threading.main_thread():
            for signum in PREEMPTION_SIGNALS:
                self._chain(signum)

    def _chain(self, signum: int) -> None:
        previous = signal.getsignal(signum)

        def handler(received: int, frame: FrameType | None) -> None:
            self.signal_received = received
            log.warning(
                "received %s: checkpointing at the end of this step", signal.Signals(received).name
            )
            if callable(previous) and previous not in (signal.SIG_IGN, signal.SIG_DFL):
                previous(received, frame)

        signal.signal(signum, handler)

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any
    ) -> None:
        if self.signal_received is None:
            return
        saved = None
        if self.checkpoints is not None:
            self.checkpoints.save_now(trainer)
            saved = self.checkpoints.last_saved
        name = signal.Signals(self.signal_received).name
        message = f"preempted by {name} after step {trainer.global_step}; " + (
            f"checkpoint {saved} saved. Re-run the same command in the same run dir to resume."
            if saved is not None
            else "no checkpoint saved (run.save_checkpoints=false), so a re-run starts over."
        )
        log.warning(message)
        raise Preempted(0)
