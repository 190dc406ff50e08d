"""Test helpers: run train.py in a subprocess and find its run dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Overrides that make a run fast: tiny random model, few rows, few steps.
TINY = [
    "model=tiny",
    "dataset.limit=64",
    "dataset.val_max_rows=8",
    "dataset.batch_size=4",
    "trainer.max_steps=4",
    "trainer.enable_progress_bar=false",
    "optim.lr=0.01",
]


def run_train(
    args: list[str], output_dir: Path, extra_env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python train.py <args>` with outputs under output_dir."""
    env = dict(os.environ)
    env.update({"HYDRATUNE_OUTPUT": str(output_dir), "HYDRA_FULL_ERROR": "0"})
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_dirs(output_dir: Path) -> list[Path]:
    """Every run dir (a folder holding config.yaml or .hydra) under output_dir."""
    return sorted(p.parent for p in output_dir.rglob(".hydra"))


def files_under(folder: Path) -> set[str]:
    """Relative paths of all files under folder."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
