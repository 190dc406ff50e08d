"""Atomic, rolling checkpoints; picking the newest readable one; a finite-loss guard."""

from __future__ import annotations

import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from framework.errors import RunAborted

log = logging.getLogger(__name__)

STEP_FILE = re.compile(r"^step-(\d+)\.ckpt$")


def checkpoint_name(step: int) -> str:
    """File name of the checkpoint taken after `step` optimizer steps."""
    return f"step-{step:06d}.ckpt"


def checkpoints_newest_first(folder: Path) -> list[Path]:
    """Checkpoints in a folder, newest (highest step) first."""
    found = [(int(m.group(1)), p) for p in folder.glob("*.ckpt") if (m := STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary name, fsync, then rename: a crash never leaves a torn file."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            with tmp.open("wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except (OSError, RuntimeError) as error:  # torch's zip writer wraps OSError
            tmp.unlink(missing_ok=True)
            previous = checkpoints_newest_first(target.parent)
            kept = f"the previous checkpoint {previous[0]} is kept" if previous else "none kept"
            raise RunAborted(
                f"could not write checkpoint {target}: {_reason(error)} (is the disk full?); {kept}"
            ) from None


def _reason(error: BaseException) -> str:
    cause = error if isinstance(error, OSError) else error.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(error).splitlines()[0]


def readable(path: Path) -> bool:
    """True when the checkpoint loads (weights_only) and has the keys a resume needs.

    DeepSpeed saves a folder (one optimizer shard per rank, written by every rank, not
    atomically): it is readable when its model states load and every rank's shard is there.
    """
    if path.is_dir():
        return _deepspeed_checkpoint_complete(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torn, truncated or foreign file: any load failure means unusable
        return False
    return isinstance(state, dict) and {"state_dict", "global_step", "loops"} <= set(state)


def _deepspeed_checkpoint_complete(folder: Path) -> bool:
    tag = folder / "checkpoint"
    model_files = sorted(tag.glob("*model_states.pt"))  # one, or one per rank under ZeRO-3
    try:
        state = torch.load(model_files[0], map_location="cpu", weights_only=True)
    except Exception:  # missing or torn: unusable
        return False
    if not (isinstance(state, dict) and {"global_step", "loops", "dp_world_size"} <= set(state)):
        return False
    ranks = int(state["dp_world_size"])
    shards = [p for p in tag.glob("*optim_states.pt") if p.stat().st_size > 0]
    return len(shards) == ranks and len(model_files) in (1, ranks)


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint file, or a DeepSpeed checkpoint folder."""
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def newest_readable(folder: Path) -> Path | None:
    """The newest checkpoint that loads; each newer unreadable one is named in a warning."""
    candidates = checkpoints_newest_first(folder)
    for index, path in enumerate(candidates):
        if readable(path):
            return path
        fallback = candidates[index + 1] if index + 1 < len(candidates) else None
        log.warning(
            "checkpoint %s is truncated or corrupt; falling back to %s",
            path,
            fallback or "a fresh start (no older checkpoint)",
        )
    return None


class BetweenSteps(pl.Callback):
    """A callback with work for the moment between two training steps: the last step is done
    (its rows logged to metrics.csv, any validation due at it run) and the next batch is not
    yet counted. Lightning's restart logic reads a checkpoint written here as "the last step
    completed", so a resume continues at the right step with the right logged step numbers;
    a checkpoint written in on_train_batch_end instead misses that step's rows and validation
    when the process is killed right after it. FineTuneModule calls `between_steps` before
    each training batch (on_before_batch_transfer, the last hook before Lightning counts it).
    """

    def between_steps(self, trainer: pl.Trainer) -> None:
        raise NotImplementedError


def run_between_steps(trainer: pl.Trainer) -> None:
    """Call every BetweenSteps callback of the trainer (during training only)."""
    if not trainer.training:
        return
    callbacks: list[pl.Callback] = getattr(trainer, "callbacks", [])
    for callback in callbacks:
        if isinstance(callback, BetweenSteps):
            callback.between_steps(trainer)


class RollingCheckpoint(BetweenSteps):
    """Save every N optimizer steps and at the end of training; keep the newest `keep`.

    A step's checkpoint is written between that step and the next (BetweenSteps), or as
    training ends: nothing it holds (step count, weights, optimizer, data position, RNG after
    the step's validation) changes in between.
    """

    def __init__(self, folder: Path, every_n_steps: int, keep: int = 2) -> None:
        self.folder, self.every_n_steps, self.keep = folder, every_n_steps, keep
        self.last_saved: Path | None = None
        self._last_step = -1

    def save_now(self, trainer: pl.Trainer) -> None:
        """Save immediately (used on preemption); a no-op if this step is already saved."""
        self._save(trainer)

    def _save(self, trainer: pl.Trainer) -> None:
        step = trainer.global_step
        if step == self._last_step:
            return
        path = self.folder / checkpoint_name(step)
        trainer.save_checkpoint(path, weights_only=False)
        self._last_step, self.last_saved = step, path
        if trainer.is_global_zero:
            for old in checkpoints_newest_first(self.folder)[self.keep :]:
                remove_checkpoint(old)

    def between_steps(self, trainer: pl.Trainer) -> None:
        if trainer.global_step > 0 and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._save(trainer)


class FiniteLossGuard(pl.Callback):
    """Stop at the first non-finite loss, naming the step and the last good checkpoint.

    The step loop never waits on the device for this: each step folds "finite?" into a tensor,
    read every `every_n_steps` steps (the logging interval, where the loss is read anyway) and
    before any checkpoint is written, so no checkpoint holds weights after a non-finite loss.
    """

    def __init__(self, checkpoints: RollingCheckpoint | None, every_n_steps: int = 1) -> None:
        self.checkpoints = checkpoints
        self.every_n_steps = max(every_n_steps, 1)
        self._first_bad: torch.Tensor | None = None  # the first bad step (0: none yet)
        self._bad_loss: torch.Tensor | None = None

    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        loss = loss.detach()
        if self._first_bad is None or self._bad_loss is None:
            self._first_bad = torch.zeros((), dtype=torch.long, device=loss.device)
            self._bad_loss = torch.zeros((), dtype=loss.dtype, device=loss.device)
        first = (self._first_bad == 0) & ~torch.isfinite(loss).all()
        self._first_bad = torch.where(first, trainer.global_step + 1, self._first_bad)
        self._bad_loss = torch.where(first, loss.reshape(-1)[0], self._bad_loss)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        if trainer.global_step % self.every_n_steps == 0:
            self.check()

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self.check()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check()

    def check(self) -> None:
        """Raise RunAborted if a loss so far was not finite (reads the device once)."""
        if self._first_bad is None or self._bad_loss is None or int(self._first_bad) == 0:
            return
        last = self.checkpoints.last_saved if self.checkpoints else None
        raise RunAborted(
            f"the loss became {self._bad_loss.item()} at step {int(self._first_bad)}; training "
            f"stopped. Last good checkpoint: {last or 'none yet'}. Lower optim.lr or check the "
            "data, then resume with run.resume=<that checkpoint>."
        )
