"""LightningDataModule: encode rows with the task's encoder, resumable shuffled batches."""

from __future__ import annotations

import logging
from typing import Any, Protocol

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from framework.data.cache import Cached, EncodedCache, cache_key
from framework.data.encoders import EncodeStats
from framework.data.rows import Row
from framework.data.sampler import LengthGrouping, ResumableSampler, example_length

log = logging.getLogger(__name__)

__all__ = ["EncodeStats", "RowEncoder", "TaskDataModule"]


class RowEncoder(Protocol):
    """Turns rows into examples and pads a batch of them (framework.data.encoders)."""

    tokenizer: Any

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[Any]: ...

    def collate(self, batch: list[Any]) -> dict[str, Any]: ...


class TaskDataModule(pl.LightningDataModule):
    """Encodes rows with the task's encoder (chat template + prompt masking for causal LM)."""

    def __init__(
        self,
        train_rows: list[Row],
        val_rows: list[Row],
        encoder: RowEncoder,
        batch_size: int,
        eval_batch_size: int,
        num_workers: int,
        seed: int,
        skipped_rows: int = 0,
        labels: tuple[str, ...] = (),
        cache: EncodedCache | None = None,
        group_by_length: bool = False,
    ) -> None:
        super().__init__()
        self.train_rows, self.val_rows = train_rows, val_rows
        self.encoder = encoder
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.skipped_rows = skipped_rows
        self.labels = labels  # class names or BIO tags, in head order (empty: none)
        self.train_set: list[Any] = []
        self.val_set: list[Any] = []
        self.stats = {"train": EncodeStats(), "val": EncodeStats()}
        self.sampler: ResumableSampler | None = None
        self.batches_seen = 0  # in epoch `count_epoch`; saved in checkpoints
        self.count_epoch = 0
        self._resume: dict[str, int] | None = None
        self.cache = cache
        self.group_by_length = group_by_length
        self.cache_status = "off"  # hit | miss | off (dataset.cache=false)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set:
            return
        self._encode()
        for split, s in self.stats.items():
            log.info(
                "%s: %d rows, %d truncated, %d dropped (no answer left), %d tokens "
                "(%d answer tokens), %d sequences, padding %.1f%% (%.1f%% unpacked)",
                split,
                s.rows,
                s.truncated,
                s.dropped_no_answer,
                s.tokens,
                s.answer_tokens,
                s.sequences,
                100 * s.padding_ratio,
                100 * s.padding_ratio_unpacked,
            )
        if not self.train_set or not self.val_set:
            from framework.errors import UserError

            raise UserError(
                "no training or validation example is left after tokenization "
                "(raise dataset.max_length or check the rows)"
            )

    def _encode(self) -> None:
        """Encode both splits, or load them from the tokenized-dataset cache."""
        if self.cache is None:
            self._encode_rows()
            return
        key = cache_key((self.train_rows, self.val_rows), self.encoder)
        cached = self.cache.load(key)
        if cached is not None:
            self.train_set, self.val_set = cached.examples["train"], cached.examples["val"]
            self.stats = cached.stats
            self.cache_status = "hit"
            log.info("tokenized dataset: cache hit %s", self.cache.path(key))
            return
        self._encode_rows()
        examples = {"train": self.train_set, "val": self.val_set}
        path = self.cache.store(key, Cached(examples, self.stats))
        self.cache_status = "miss"
        log.info("tokenized dataset: cache miss, saved %s", path)

    def _encode_rows(self) -> None:
        self.train_set = self.encoder.encode(self.train_rows, self.stats["train"])
        self.val_set = self.encoder.encode(self.val_rows, self.stats["val"])

    def collate(self, batch: list[Any]) -> dict[str, Any]:
        """Pad a batch (the task encoder's collate)."""
        return self.encoder.collate(batch)

    def train_dataloader(self) -> DataLoader[Any]:
        world, rank = self._data_parallel_rank()
        grouping = None
        if self.group_by_length:
            lengths = [example_length(e) for e in self.train_set]
            grouping = LengthGrouping(lengths, self.batch_size)
        self.sampler = ResumableSampler(len(self.train_set), self.seed, world, rank, grouping)
        if self._resume is not None:
            self.sampler.resume_at(
                self._resume["epoch"], self._resume["batches_seen"] * self.batch_size * world
            )
            self.batches_seen = self._resume["batches_seen"]
            self._resume = None
        return DataLoader(
            self.train_set,  # type: ignore[arg-type]
            batch_size=self.batch_size,
            sampler=self.sampler,
            # Its own generator: creating an iterator must not draw from the global RNG
            # (dropout masks would then differ between a resumed and an uninterrupted run).
            generator=torch.Generator().manual_seed(self.seed),
            collate_fn=self.collate,
            num_workers=self.num_workers,
        )

    def _data_parallel_rank(self) -> tuple[int, int]:
        """(ranks, this rank) of data parallelism; (1, 0) outside a distributed Trainer."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def advance(self, epoch: int) -> None:
        """Record that one more training batch of `epoch` was consumed."""
        if epoch != self.count_epoch:
            self.count_epoch, self.batches_seen = epoch, 0
        self.batches_seen += 1

    def state_dict(self) -> dict[str, int]:
        """The data position: epoch and batches consumed in it (saved in checkpoints)."""
        return {"epoch": self.count_epoch, "batches_seen": self.batches_seen}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = {"epoch": int(state["epoch"]), "batches_seen": int(state["batches_seen"])}
        self.count_epoch = self._resume["epoch"]

    def val_dataloader(self) -> list[DataLoader[Any]]:
        """Held-out validation, then a same-sized sample of train rows (train loss).

        Not sharded: every rank scores every row, and the summed metrics divide out to the
        single-process loss exactly (evaluation sets here are small).
        """
        train_sample = self.train_set[: len(self.val_set)]
        return [
            DataLoader(
                rows,  # type: ignore[arg-type]
                batch_size=self.eval_batch_size,
                shuffle=False,
                collate_fn=self.collate,
                num_workers=self.num_workers,
            )
            for rows in (self.val_set, train_sample)
        ]
