"""A preemption signal outside a training step (the evaluation before step 1, or after the
last) stops at once with the requeue exit code and claims no checkpoint."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import pytest
import pytorch_lightning as pl
from pytorch_lightning.utilities.exceptions import SIGTERMException

from framework.training.checkpointing import RollingCheckpoint
from framework.training.preemption import PREEMPTED_EXIT_CODE, Preempted, Preemption


@pytest.fixture
def restore_handlers() -> object:
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)}
    yield None
    for signum, handler in saved.items():
        signal.signal(signum, handler)


@pytest.mark.usefixtures("restore_handlers")
@pytest.mark.parametrize("hook", ["on_validation_batch_end", "on_train_start"])
def test_a_signal_before_the_first_step_exits_75_without_a_checkpoint(
    hook: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoints = RollingCheckpoint(tmp_path / "checkpoints", every_n_steps=10)
    preemption = Preemption(checkpoints)
    os.kill(os.getpid(), signal.SIGTERM)  # delivered to the handler Preemption installed
    assert preemption.signal_received == signal.SIGTERM
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with caplog.at_level(logging.WARNING), pytest.raises(Preempted) as stopped:
        extra = (None, None, 0) if hook == "on_validation_batch_end" else ()
        getattr(preemption, hook)(trainer, pl.LightningModule(), *extra)
    assert stopped.value.code == PREEMPTED_EXIT_CODE != 0
    assert "no new checkpoint was written" in caplog.text
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.usefixtures("restore_handlers")
def test_without_a_signal_the_hooks_do_nothing(tmp_path: Path) -> None:
    preemption = Preemption(None)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    preemption.on_validation_batch_end(trainer, pl.LightningModule(), None, None, 0)
    preemption.on_train_start(trainer, pl.LightningModule())


class FakeSubmititHandler:
    """Stands in for submitit's SignalHandler (requeues the SLURM job and exits)."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def checkpoint_and_try_requeue(self, signum: int, frame: object = None) -> None:
        self.calls.append(signum)


FakeSubmititHandler.__module__ = "submitit.core.job_environment"


@pytest.mark.usefixtures("restore_handlers")
def test_submitits_requeue_waits_until_the_step_is_done() -> None:
    submitit = FakeSubmititHandler()
    signal.signal(signal.SIGUSR2, submitit.checkpoint_and_try_requeue)
    preemption = Preemption(None)
    os.kill(os.getpid(), signal.SIGUSR2)
    assert preemption.signal_received == signal.SIGUSR2
    assert submitit.calls == []  # not mid-step: the checkpoint comes first
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(Preempted):
        preemption.between_steps(trainer)
    assert submitit.calls == [signal.SIGUSR2]  # then submitit requeues the job


@pytest.mark.usefixtures("restore_handlers")
def test_lightnings_own_sigterm_stop_exits_with_the_requeue_code(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Lightning stops on SIGTERM with a SystemExit of code 0; the run must exit 75."""
    preemption = Preemption(None)
    trainer = pl.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    stop = SIGTERMException()
    with caplog.at_level(logging.WARNING):
        preemption.on_exception(trainer, pl.LightningModule(), stop)
    assert stop.code == PREEMPTED_EXIT_CODE
    assert "preempted by SIGTERM" in caplog.text
    other = SystemExit(3)
    preemption.on_exception(trainer, pl.LightningModule(), other)
    assert other.code == 3  # only Lightning's SIGTERM stop is rewritten
