"""Callbacks: tokens/s and peak memory shown in the progress bar and kept for metrics."""

from __future__ import annotations

import resource
import time
from typing import Any

import pytorch_lightning as pl
import torch


def peak_rss_mib() -> float:
    """Peak resident set size of this process, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Throughput(pl.Callback):
    """Counts tokens per optimizer step and logs tokens/s; keeps totals for the report."""

    def __init__(self, log_every_n_steps: int) -> None:
        self.log_every_n_steps = max(log_every_n_steps, 1)
        self.tokens = 0
        self.answer_tokens = 0
        self.seconds = 0.0
        self.cpu_seconds = 0.0  # process CPU time: robust to other load on a shared machine
        self.steps = 0
        self._start = 0.0
        self._cpu_start = 0.0
        self.last_tokens_per_second = 0.0  # shown by the progress bar

    def on_train_batch_start(
        self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._start = time.perf_counter()
        self._cpu_start = time.process_time()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        elapsed = time.perf_counter() - self._start
        self.cpu_seconds += time.process_time() - self._cpu_start
        tokens, answers = batch_counts(batch)
        self.tokens += tokens
        self.answer_tokens += answers
        self.seconds += elapsed
        self.steps += 1
        self.last_tokens_per_second = tokens / max(elapsed, 1e-9)
        # Straight to the loggers: module.log would cost ~3 ms per value per step in Lightning's
        # result collection (measured with cProfile, bench/notes.md), for plain floats.
        step = trainer.global_step - 1
        if trainer.loggers and step % self.log_every_n_steps == 0:
            values = {"tok/s": self.last_tokens_per_second, "peak_mem_mib": peak_memory_mib()}
            for logger in trainer.loggers:
                logger.log_metrics(values, step=step)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def batch_counts(batch: Any) -> tuple[int, int]:
    """(non-pad tokens, labelled tokens) of a batch: the counts the collate computed on the host
    (no wait on the device); a batch without them is counted from its tensors."""
    if "token_count" in batch:
        return int(batch["token_count"]), int(batch.get("label_count", 0))
    tokens = int(batch["attention_mask"].sum())
    answers = int((batch["labels"] != -100).sum()) if "labels" in batch else 0
    return tokens, answers


def peak_memory_mib() -> float:
    """Peak GPU memory if a GPU is in use, else peak RSS."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    return peak_rss_mib()


class DataPosition(pl.Callback):
    """Tells the datamodule each consumed batch, so checkpoints hold the data position."""

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, *args: Any
    ) -> None:
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        if datamodule is not None and hasattr(datamodule, "advance"):
            datamodule.advance(trainer.current_epoch)
