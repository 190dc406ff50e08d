"""What a run dir says about a job: new metric rows (events) and new checkpoints."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

METRIC_NAMES = {
    "train/loss": "train_loss",
    "val/loss": "valid_loss",
    "train_eval/loss": "full_train_loss",
    "val/exact_match": "valid_mean_token_accuracy",
    # preference tasks (method.type=dpo): held-out pairs the policy prefers over the reference
    "val/reward_accuracy": "valid_reward_accuracy",
    "val/reward_margin": "valid_reward_margin",
}


def _number(value: str | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def metric_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Complete rows of logs/metrics.csv, each {step, kind: train|val, <OpenAI metric>: v}."""
    path = run_dir / "logs" / "metrics.csv"
    try:
        text = path.read_text()
    except OSError:
        return []
    if not text.endswith("\n"):  # a row being written: leave it for the next look
        text = text[: text.rfind("\n") + 1]
    found = []
    for raw in csv.DictReader(io.StringIO(text)):
        step = _number(raw.get("step"))
        if step is None:
            continue
        values = {
            name: number
            for key, name in METRIC_NAMES.items()
            if (number := _number(raw.get(key))) is not None
        }
        if "train_loss" in values:
            found.append({"kind": "train", "step": int(step) + 1, **values})
        elif "valid_loss" in values:
            found.append({"kind": "val", "step": int(step), **values})
    return found


def checkpoint_steps(run_dir: Path) -> dict[int, Path]:
    """The checkpoints on disk, by step (step-NNNNNN.ckpt)."""
    found = {}
    for path in (run_dir / "checkpoints").glob("step-*.ckpt"):
        try:
            found[int(path.stem.split("-", 1)[1])] = path
        except ValueError:
            continue
    return found
