"""A shuffling sampler that can resume mid-epoch: same order, skipping rows already seen;
optionally grouping rows of similar length into the same batches (`dataset.group_by_length`)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler


class ResumableSampler(Sampler[int]):
    """Seeded per-epoch permutation; `skip` rows of the current epoch after a resume.

    With several data-parallel ranks each rank takes every `num_replicas`-th row of the
    same permutation, so the ranks' batches at a step together hold exactly the rows a
    single process with a `num_replicas` times larger batch would see. (Sharding here rather
    than in Lightning's DistributedSamplerWrapper keeps a mid-epoch resume exact: that
    wrapper indexes the whole epoch and cannot skip.)
    """

    def __init__(
        self,
        num_rows: int,
        seed: int,
        num_replicas: int = 1,
        rank: int = 0,
        grouping: LengthGrouping | None = None,
    ) -> None:
        self.num_rows, self.seed = num_rows, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.grouping = grouping
        self.epoch = 0
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning at each epoch start; a new epoch starts from its first row."""
        if epoch != self.epoch:
            self.epoch, self.skip = epoch, 0

    def resume_at(self, epoch: int, rows_seen: int) -> None:
        """Continue epoch `epoch` after its first `rows_seen` rows (over all ranks)."""
        self.epoch, self.skip = epoch, rows_seen

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.num_rows, generator=generator).tolist()
        if self.grouping is not None:
            order = self.grouping.arrange(order, self.num_replicas, generator)
        start, self.skip = self.skip, 0
        rows = order[start:]
        if self.num_replicas > 1 and rows:
            # Every rank takes the same number of rows (wrapping around), or ranks would hang.
            padded = math.ceil(len(rows) / self.num_replicas) * self.num_replicas
            rows = (rows * self.num_replicas)[:padded]
            rows = rows[self.rank :: self.num_replicas]
        return iter(rows)

    def __len__(self) -> int:
        # The whole epoch: Lightning counts resumed batches itself against this length.
        return math.ceil(self.num_rows / self.num_replicas)


MEGABATCH = 50  # batches sorted together by length (as transformers' LengthGroupedSampler)


def example_length(example: Any) -> int:
    """Tokens of an encoded example: its input ids, or a preference example's prompt plus its
    longer reply (what its padded batch is sized by)."""
    ids = getattr(example, "input_ids", None)
    if ids is not None:
        return len(ids)
    return len(example.prompt_ids) + max(len(r) for r in example.replies)


class LengthGrouping:
    """Reorders an epoch's shuffled rows so that each batch holds rows of similar length: the
    permutation is cut into megabatches of MEGABATCH global batches, each sorted by length
    (longest first) and cut into global batches; the batches are then shuffled with the epoch's
    generator and the full batch holding the longest row goes first (out-of-memory shows at
    step 1); a last, short batch stays last.
    A global batch is `batch_size` rows per rank, so every rank's share of a step is similar."""

    def __init__(self, lengths: Sequence[int], batch_size: int) -> None:
        self.lengths, self.batch_size = list(lengths), batch_size

    def arrange(self, order: list[int], num_replicas: int, generator: torch.Generator) -> list[int]:
        size = self.batch_size * num_replicas
        mega = size * MEGABATCH
        batches: list[list[int]] = []
        for start in range(0, len(order), mega):
            chunk = sorted(order[start : start + mega], key=lambda i: -self.lengths[i])
            batches += [chunk[i : i + size] for i in range(0, len(chunk), size)]
        # The last (possibly short) batch stays last: only full batches are shuffled.
        full = len(batches) - (1 if len(order) % size else 0)
        shuffled = [batches[i] for i in torch.randperm(full, generator=generator).tolist()]
        if shuffled:
            longest = max(range(full), key=lambda b: max(self.lengths[i] for i in shuffled[b]))
            shuffled.insert(0, shuffled.pop(longest))
        return [i for batch in shuffled + batches[full:] for i in batch]
