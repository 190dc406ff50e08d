"""A resumed run appends to logs/metrics.csv instead of losing the earlier attempt's rows."""

from __future__ import annotations

import csv
from pathlib import Path

from framework.training.csv_history import AppendingCSVLogger


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_second_attempt_appends_and_keeps_every_column(tmp_path: Path) -> None:
    first = AppendingCSVLogger(save_dir=str(tmp_path), name="logs", version="")
    first.log_metrics({"train/loss": 2.0}, step=1)
    first.log_metrics({"train/loss": 1.5}, step=2)
    first.finalize("failed")  # the crash: what was logged so far is on disk
    second = AppendingCSVLogger(save_dir=str(tmp_path), name="logs", version="")
    second.log_metrics({"train/loss": 1.4, "val/loss": 1.6}, step=2)
    second.finalize("success")
    found = rows(tmp_path / "logs" / "metrics.csv")
    assert [(r["step"], r["train/loss"], r["val/loss"]) for r in found] == [
        ("1", "2.0", ""),
        ("2", "1.5", ""),
        ("2", "1.4", "1.6"),
    ]
