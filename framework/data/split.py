"""Load a dataset preset's rows and split them into train and held-out validation."""

from __future__ import annotations

import math
import random

from framework.data.sources import ChatRow, chatterbot_rows, jsonl_rows
from framework.errors import UserError


def load_rows(source: str, path: str | None, categories: list[str]) -> list[ChatRow]:
    """All rows of a dataset source."""
    if source == "chatterbot":
        return chatterbot_rows(categories)
    if source == "jsonl":
        if not path:
            raise UserError("dataset.path is required for dataset.source=jsonl")
        return jsonl_rows(path)
    raise UserError(f"dataset.source='{source}' is not supported (allowed: chatterbot, jsonl)")


def split_rows(
    rows: list[ChatRow], val_fraction: float, val_max_rows: int | None, limit: int | None, seed: int
) -> tuple[list[ChatRow], list[ChatRow]]:
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
