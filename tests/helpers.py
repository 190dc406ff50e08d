"""Test helpers (plain functions, importable anywhere): compose a config in-process, run
train.py in a subprocess (to the end, or started and stopped once a file appears), find its run
dirs. tests/conftest.py wraps them as fixtures."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


def train_env(output_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a train.py subprocess: outputs under output_dir, Hydra's short
    errors, then `extra_env`."""
    env = dict(os.environ)
    env.update({"HYDRATUNE_OUTPUT": str(output_dir), "HYDRA_FULL_ERROR": "0"})
    env.update(extra_env or {})
    return env


def run_train(
    args: list[str], output_dir: Path, extra_env: dict[str, str] | None = None, timeout: int = 300
) -> subprocess.CompletedProcess[str]:
    """Run `python train.py <args>` with outputs under output_dir (an end-to-end test: mark
    it `e2e`, or reach it through the `train_py` / `tiny_run` fixtures, which mark it)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=train_env(output_dir, extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_train(
    args: list[str],
    output_dir: Path,
    extra_env: dict[str, str] | None = None,
    *,
    read_stderr: bool = False,
    own_group: bool = False,
) -> subprocess.Popen[str]:
    """Start `python train.py <args>` (outputs under output_dir) and return at once; the test
    stops and waits for it (mark it `e2e`). stdout is discarded, stderr too unless
    `read_stderr` (then piped, text); `own_group`: a new session, so os.killpg reaches every
    rank it starts."""
    return subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        env=train_env(output_dir, extra_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if read_stderr else subprocess.DEVNULL,
        text=True,
        start_new_session=own_group,
    )


def wait_for(
    ready: Path | Callable[[], Any],
    proc: subprocess.Popen[str],
    timeout: float,
    what: str,
    poll: float = 0.02,
) -> Any:
    """Poll until `ready` holds (the path exists, or the callable returns a true value, which is
    returned) while `proc` runs; fails naming `what` when proc ends first (with its stderr
    when piped) or `timeout` seconds pass."""
    check = ready.exists if isinstance(ready, Path) else ready
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if proc.poll() is not None:
            tail = f":\n{proc.communicate()[1][-3000:]}" if proc.stderr else ""
            raise AssertionError(f"the process ended (exit {proc.returncode}) before {what}{tail}")
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what} in vain"
        time.sleep(poll)
    return value


def interrupt_at_checkpoint(
    args: list[str], run_dir: Path, step: int, signum: int, timeout: int
) -> int:
    """Start train.py `args` in run_dir (outputs under its parent), send `signum` once step
    `step`'s checkpoint exists, and return the exit code; the run must not have finished."""
    from framework.training.checkpointing import checkpoint_name

    proc = start_train([*args, f"hydra.run.dir={run_dir}"], run_dir.parent)
    try:
        checkpoint = run_dir / "checkpoints" / checkpoint_name(step)
        wait_for(checkpoint, proc, timeout, f"its step-{step} checkpoint")
        proc.send_signal(signum)
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (run_dir / "metrics.json").exists(), "signalled too late: the run had finished"
    return code


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


def train_losses(run_dir: Path) -> list[tuple[int, float]]:
    """Every (step, train/loss) row of logs/metrics.csv, in order (a resume appends)."""
    with (run_dir / "logs/metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["train/loss"]]
    return [(int(r["step"]), float(r["train/loss"])) for r in rows]
