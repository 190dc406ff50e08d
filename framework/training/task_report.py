"""The task's validation metrics before and after training, and data counts, for metrics.json."""

from __future__ import annotations

from typing import Any


def task_metrics(
    before: dict[str, float], after: dict[str, float], datamodule: Any
) -> dict[str, Any]:
    """val_<metric>_before/after for every held-out metric beyond the loss, plus data counts."""
    out: dict[str, Any] = {}
    for key, value in sorted(after.items()):
        split, _, name = key.partition("/")
        if split != "val" or name == "loss":
            continue
        out[f"val_{name}_before"] = before.get(key)
        out[f"val_{name}_after"] = value
    train = datamodule.stats["train"]
    out["skipped_bad_rows"] = int(datamodule.skipped_rows)
    out["dataset_cache"] = str(datamodule.cache_status)  # hit | miss | off
    out["train_sequences"] = train.sequences
    out["padding_ratio"] = round(train.padding_ratio, 4)
    out["padding_ratio_unpacked"] = round(train.padding_ratio_unpacked, 4)
    if datamodule.labels:
        out["labels"] = list(datamodule.labels)
    return out
