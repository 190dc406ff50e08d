"""Split rows into train and held-out validation (seeded shuffle, optional cap)."""

from __future__ import annotations

import math
import random
from typing import TypeVar

from framework.errors import UserError

T = TypeVar("T")


def split_rows(
    rows: list[T], val_fraction: float, val_max_rows: int | None, limit: int | None, seed: int
) -> tuple[list[T], list[T]]:
    """Shuffle with a seed, cap to `limit`, hold out a validation split."""
    shuffled = list(rows)
    random.Random(seed).shuffle(shuffled)
    if limit is not None:
        shuffled = shuffled[:limit]
    n_val = max(1, math.ceil(len(shuffled) * val_fraction))
    if val_max_rows is not None:
        n_val = min(n_val, val_max_rows)
    if len(shuffled) - n_val < 1:
        raise UserError(
            f"the dataset has {len(shuffled)} rows: too few for a train split and a "
            f"validation split of {n_val} (lower dataset.val_fraction or raise dataset.limit)"
        )
    return shuffled[n_val:], shuffled[:n_val]
