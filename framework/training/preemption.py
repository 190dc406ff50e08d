"""Preemption: on SIGTERM, SIGUSR1 or SIGUSR2, save a checkpoint at the next step end and stop.

The process then exits with PREEMPTED_EXIT_CODE (75, EX_TEMPFAIL: "try again"), never 0: the
run is not finished, and a scheduler must requeue it (re-running the same command resumes from
the checkpoint). A signal that arrives outside a training step (during the validation before
step 1, or after the last step) stops at once with the same code, and no checkpoint is claimed
that was not written.

Under SLURM through submitit (+sweep=slurm), the job's signal is submitit's requeue signal
(USR2, or SUBMITIT_PREEMPT_SIGNAL), whose handler requeues the job and exits at once. That
handler is held back until the checkpoint is saved at the end of the step, then called: the job
is requeued with the same trial, which resumes from the checkpoint in the same run dir."""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType
from typing import Any

import pytorch_lightning as pl

from framework.training.checkpointing import RollingCheckpoint

log = logging.getLogger(__name__)


def requeue_signal() -> signal.Signals:
    """The signal submitit requeues on (SUBMITIT_PREEMPT_SIGNAL, USR2 by default)."""
    name = os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2").upper()
    found = getattr(signal, name if name.startswith("SIG") else f"SIG{name}", None)
    return found if isinstance(found, signal.Signals) else signal.SIGUSR2


PREEMPTION_SIGNALS = tuple(dict.fromkeys((signal.SIGTERM, signal.SIGUSR1, requeue_signal())))


def _is_submitit_handler(handler: Any) -> bool:
    """True for submitit's checkpoint-and-requeue handler (a bound method of its SignalHandler)."""
    owner = getattr(handler, "__self__", None)
    return type(owner).__module__.startswith("submitit.") if owner is not None else False


PREEMPTED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): not done, run the same command again


class Preempted(SystemExit):
    """Raised when a preemption signal stops the run; exits with PREEMPTED_EXIT_CODE."""


class Preemption(pl.Callback):
    """Records a preemption signal; at the next batch end saves a checkpoint and stops."""

    def __init__(self, checkpoints: RollingCheckpoint | None) -> None:
        self.checkpoints = checkpoints
        self.signal_received: int | None = None
        self._requeue: tuple[Any, int, FrameType | None] | None = None  # submitit's, held back
        if threading.current_thread() is threading.main_thread():
            for signum in PREEMPTION_SIGNALS:
                self._chain(signum)

    def _chain(self, signum: int) -> None:
        previous = signal.getsignal(signum)

        def handler(received: int, frame: FrameType | None) -> None:
            self.signal_received = received
            log.warning(
                "received %s: stopping at the end of the current training step",
                signal.Signals(received).name,
            )
            if _is_submitit_handler(previous):
                self._requeue = (previous, received, frame)  # after the checkpoint is saved
            elif callable(previous) and previous not in (signal.SIG_IGN, signal.SIG_DFL):
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
            f"checkpoint {saved} saved. Exit {PREEMPTED_EXIT_CODE}: re-run the same command in "
            "the same run dir to resume."
            if saved is not None and saved.exists()
            else "no checkpoint saved (run.save_checkpoints=false), so a re-run starts over."
        )
        log.warning(message)
        self._requeue_job()
        raise Preempted(PREEMPTED_EXIT_CODE)

    def _requeue_job(self) -> None:
        """Under submitit: let its handler requeue this job (the same trial, the same run dir);
        it exits the process. Only rank 0 requeues (submitit's rule)."""
        if self._requeue is None:
            return
        handler, received, frame = self._requeue
        self._requeue = None
        log.warning("requeueing the SLURM job through submitit: the requeued job resumes")
        handler(received, frame)

    def on_validation_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any
    ) -> None:
        if self.signal_received is not None and not trainer.training:
            self._stop_outside_training(trainer)  # the evaluation before or after training

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.signal_received is not None:
            self._stop_outside_training(trainer)

    def _stop_outside_training(self, trainer: pl.Trainer) -> None:
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        log.warning(
            "preempted by %s outside a training step (at step %d); no new checkpoint was "
            "written. Exit %d: re-run the same command in the same run dir to continue.",
            name,
            trainer.global_step,
            PREEMPTED_EXIT_CODE,
        )
        self._requeue_job()
        raise Preempted(PREEMPTED_EXIT_CODE)
