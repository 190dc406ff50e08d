"""Test helpers (plain functions, importable anywhere): compose a config in-process, run
train.py in a subprocess, find its run dirs. tests/conftest.py wraps them as fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"

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

_registered = False


def compose_config(
    overrides: Sequence[str] = (), *, model: str | None = "tiny", config_name: str = "train"
) -> DictConfig:
    """The composed config (conf/<config_name>.yaml) with overrides, in-process.

    model="tiny" (the default) selects the tiny test model first; model=None keeps the
    config's own default model. Schemas and plugins/ methods are registered once.
    """
    from hydra import compose, initialize_config_dir

    global _registered
    if not _registered:
        from framework.config.schema import register_schemas
        from framework.methods.discovery import discover_methods

        register_schemas()
        discover_methods(ROOT / "plugins")
        _registered = True
    selected = [f"model={model}"] if model is not None else []
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(config_name, overrides=[*selected, *overrides])


def run_train(
    args: list[str], output_dir: Path, extra_env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python train.py <args>` with outputs under output_dir (an end-to-end test: mark
    it `e2e`, or reach it through the `train_py` / `tiny_run` fixtures, which mark it)."""
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


def train_tiny(output_dir: Path, *args: str, extra_env: dict[str, str] | None = None) -> Path:
    """Train the tiny model (TINY + args) in a subprocess; it must succeed; its one run dir."""
    result = run_train([*TINY, *args], output_dir, extra_env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(output_dir)
    return run_dir


def run_dirs(output_dir: Path) -> list[Path]:
    """Every run dir (a folder holding config.yaml or .hydra) under output_dir."""
    return sorted(p.parent for p in output_dir.rglob(".hydra"))


def files_under(folder: Path) -> set[str]:
    """Relative paths of all files under folder."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
