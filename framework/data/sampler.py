"""A shuffling sampler that can resume mid-epoch: same order, skipping rows already seen."""

from __future__ import annotations

import math
from collections.abc import Iterator

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

    def __init__(self, num_rows: int, seed: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.num_rows, self.seed = num_rows, seed
        self.num_replicas, self.rank = num_replicas, rank
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
