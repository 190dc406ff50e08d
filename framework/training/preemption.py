"""Preemption: on SIGTERM, SIGUSR1 or SIGUSR2, save a checkpoint once the step is done and stop.

The process then exits with PREEMPTED_EXIT_CODE (75, EX_TEMPFAIL: "try again"), never 0: the
run is not finished, and a scheduler must requeue it (re-running the same command resumes from
the checkpoint). "Done" means the step's rows are logged and any validation due at it has run
(the checkpoint is written between this step and the next, or as training ends). A signal
outside training (during the evaluation before step 1, or after the last step) stops at once
with the same code, and no checkpoint is claimed that was not written.

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
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException

from framework.training.checkpointing import BetweenSteps, RollingCheckpoint

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


class Preemption(BetweenSteps):
    """Records a preemption signal; when the current step is done (its rows logged, any
    validation due at it run: at the next step's start or the end of training) saves a
    checkpoint and stops."""

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
                "received %s: stopping once the current training step is done",
                signal.Signals(received).name,
            )
            if _is_submitit_handler(previous):
                self._requeue = (previous, received, frame)  # after the checkpoint is saved
            elif callable(previous) and previous not in (signal.SIG_IGN, signal.SIG_DFL):
                previous(received, frame)

        signal.signal(signum, handler)

    def between_steps(self, trainer: pl.Trainer) -> None:
        if self.signal_received is None:
            return
        if trainer.global_step == 0:  # before the first step: nothing worth a checkpoint
            self._stop_outside_training(trainer)
        else:
            self._stop_after_step(trainer)

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.signal_received is not None:
            self._stop_after_step(trainer)

    def on_exception(
        self, trainer: pl.Trainer, module: pl.LightningModule, exception: BaseException
    ) -> None:
        """SIGTERM also reaches Lightning's own handler, which stops the loop once the step and
        any validation due at it are done by raising SIGTERMException (a SystemExit with code
        0), before the next step's start: save there, and make the exit code the requeue one."""
        if not isinstance(exception, SIGTERMException):
            return
        exception.code = PREEMPTED_EXIT_CODE
        if self.signal_received is None:
            self.signal_received = signal.SIGTERM
        if trainer.state.fn == TrainerFn.FITTING and trainer.global_step > 0:
            self._checkpoint_and_requeue(trainer)
        else:
            self._report_outside_training(trainer)

    def _stop_after_step(self, trainer: pl.Trainer) -> None:
        self._checkpoint_and_requeue(trainer)
        raise Preempted(PREEMPTED_EXIT_CODE)

    def _checkpoint_and_requeue(self, trainer: pl.Trainer) -> None:
        saved = None
        if self.checkpoints is not None:
            self.checkpoints.save_now(trainer)
            saved = self.checkpoints.last_saved
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        message = f"preempted by {name} after step {trainer.global_step}; " + (
            f"checkpoint {saved} saved. Exit {PREEMPTED_EXIT_CODE}: re-run the same command in "
            "the same run dir to resume."
            if saved is not None and saved.exists()
            else "no checkpoint saved (run.save_checkpoints=false), so a re-run starts over."
        )
        log.warning(message)
        self._requeue_job()

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
        # The evaluation before or after training stops at once; a validation during training
        # finishes, and the next step's start saves the checkpoint and stops.
        fitting = trainer.state.fn == TrainerFn.FITTING
        if self.signal_received is not None and not fitting:
            self._stop_outside_training(trainer)

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if self.signal_received is not None:
            self._stop_outside_training(trainer)

    def _stop_outside_training(self, trainer: pl.Trainer) -> None:
        self._report_outside_training(trainer)
        raise Preempted(PREEMPTED_EXIT_CODE)

    def _report_outside_training(self, trainer: pl.Trainer) -> None:
        name = signal.Signals(self.signal_received or signal.SIGTERM).name
        log.warning(
            "preempted by %s outside a training step (at step %d); no new checkpoint was "
            "written. Exit %d: re-run the same command in the same run dir to continue.",
            name,
            trainer.global_step,
            PREEMPTED_EXIT_CODE,
        )
        self._requeue_job()
