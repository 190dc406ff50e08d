"""LightningDataModule for chat-style causal-LM fine-tuning."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from framework.data.render import IGNORE_INDEX, Encoded, encode, segments
from framework.data.sampler import ResumableSampler
from framework.data.sources import ChatRow

log = logging.getLogger(__name__)


@dataclass
class EncodeStats:
    """Counts reported after tokenization (logged and written to metrics.json)."""

    rows: int = 0
    truncated: int = 0
    dropped_no_answer: int = 0
    tokens: int = 0
    answer_tokens: int = 0


class ChatDataModule(pl.LightningDataModule):
    """Renders rows with the chat template, masks prompts, pads batches dynamically."""

    def __init__(
        self,
        train_rows: list[ChatRow],
        val_rows: list[ChatRow],
        tokenizer: Any,
        max_length: int,
        train_on_prompt: bool,
        system_prompt: str | None,
        batch_size: int,
        eval_batch_size: int,
        num_workers: int,
        seed: int,
    ) -> None:
        super().__init__()
        self.train_rows, self.val_rows = train_rows, val_rows
        self.tokenizer = tokenizer
        self.max_length, self.train_on_prompt = max_length, train_on_prompt
        self.system_prompt = system_prompt
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.train_set: list[Encoded] = []
        self.val_set: list[Encoded] = []
        self.stats = {"train": EncodeStats(), "val": EncodeStats()}
        self.sampler: ResumableSampler | None = None
        self.batches_seen = 0  # in epoch `count_epoch`; saved in checkpoints
        self.count_epoch = 0
        self._resume: dict[str, int] | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set:
            return
        self.train_set = self._encode_all(self.train_rows, self.stats["train"])
        self.val_set = self._encode_all(self.val_rows, self.stats["val"])
        for split, s in self.stats.items():
            log.info(
                "%s: %d rows, %d truncated to %d tokens, %d dropped (no answer left), "
                "%d tokens (%d answer tokens)",
                split,
                s.rows,
                s.truncated,
                self.max_length,
                s.dropped_no_answer,
                s.tokens,
                s.answer_tokens,
            )

    def _encode_all(self, rows: list[ChatRow], stats: EncodeStats) -> list[Encoded]:
        out = []
        for row in rows:
            enc = encode(
                segments(row, self.tokenizer, self.system_prompt),
                self.tokenizer,
                self.max_length,
                self.train_on_prompt,
            )
            stats.rows += 1
            stats.truncated += int(enc.truncated)
            answer = sum(1 for t in enc.labels if t != IGNORE_INDEX)
            if answer == 0:
                stats.dropped_no_answer += 1
                continue
            stats.tokens += len(enc.input_ids)
            stats.answer_tokens += answer
            out.append(enc)
        return out

    def collate(self, batch: list[Encoded]) -> dict[str, torch.Tensor]:
        """Right-pad to the longest row; padding gets no attention and no loss."""
        width = max(len(e.input_ids) for e in batch)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, e in enumerate(batch):
            n = len(e.input_ids)
            ids[i, :n] = torch.tensor(e.input_ids)
            labels[i, :n] = torch.tensor(e.labels)
            mask[i, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def train_dataloader(self) -> DataLoader[Encoded]:
        world, rank = self._data_parallel_rank()
        self.sampler = ResumableSampler(len(self.train_set), self.seed, world, rank)
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

    def val_dataloader(self) -> list[DataLoader[Encoded]]:
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
