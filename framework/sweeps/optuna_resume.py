"""Resolver `ht.optuna_remaining`: how many of a study's trials are still to run."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from omegaconf import OmegaConf


def completed_trials(storage: str, study_name: str) -> int:
    """COMPLETE trials of `study_name` in an Optuna SQLite storage (0 if none yet)."""
    prefix = "sqlite:///"
    if not storage.startswith(prefix):
        return 0
    path = Path(storage[len(prefix) :])
    path.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
    if not path.is_file():
        return 0
    with sqlite3.connect(path) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM trials JOIN studies ON trials.study_id = studies.study_id "
            "WHERE studies.study_name = ? AND trials.state = 'COMPLETE'",
            (study_name,),
        ).fetchone()
    return int(row[0])


def remaining_trials(storage: str, study_name: str, total: int) -> int:
    """Trials still to run so that the study ends with `total` complete ones."""
    return max(0, int(total) - completed_trials(storage, study_name))


def register_resolver() -> None:
    """Make `${ht.optuna_remaining:storage,study,total}` available to configs."""
    if not OmegaConf.has_resolver("ht.optuna_remaining"):
        OmegaConf.register_new_resolver("ht.optuna_remaining", remaining_trials)
