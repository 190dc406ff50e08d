"""Shared fixtures and the two test layers.

Layers (markers registered in pyproject.toml):
  unit (unmarked)  in-process, fast: `make test-fast` runs `-m "not e2e and not slow"`
  e2e              starts a subprocess (train.py, evaluate.py, a sweep, pip, a bench script),
                   or runs for minutes in-process (the model-family suite, the fuzz layer)
  slow             real-model runs and long checks, left out of `make test`

A test is marked e2e when it uses the `train_py` or `tiny_run` fixture (directly or through
another fixture), or by hand (`pytestmark = pytest.mark.e2e` / `@pytest.mark.e2e`). A test
that is not marked e2e (or slow) and starts a Python subprocess fails, naming the marker, so
an end-to-end test cannot land in the fast layer unnoticed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from tests.helpers import compose_config, run_train, train_tiny

# Fixtures that start train.py: a test using any of them (even through another fixture) is e2e.
SUBPROCESS_FIXTURES = frozenset({"train_py", "tiny_run", "slurm"})
LAYER_MARKERS = ("e2e", "slow")


@pytest.fixture
def compose() -> Callable[..., DictConfig]:
    """compose(overrides, model="tiny"): the composed train config, in-process (no subprocess)."""
    return compose_config


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """A fresh, empty folder for train.py's outputs (HYDRATUNE_OUTPUT)."""
    folder = tmp_path / "outputs"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def train_py() -> Callable[..., subprocess.CompletedProcess[str]]:
    """train_py(args, output_dir, extra_env=None): `python train.py` in a subprocess (e2e)."""
    return run_train


@pytest.fixture(scope="session")
def slurm() -> Iterator[dict[str, str]]:
    """A real one-node SLURM cluster (tests/slurm_kit.py) for the session: the environment
    (SLURM_CONF) that points sbatch/squeue at it. Skipped, with the reason, where SLURM cannot
    start (not root, slurm-wlm/munge not installed); its daemons are stopped afterwards (e2e)."""
    from tests import slurm_kit

    reason = slurm_kit.unavailable_reason()
    if reason:
        pytest.skip(f"no SLURM test cluster: {reason}")
    with slurm_kit.slurm_cluster() as folder:
        yield slurm_kit.env(folder)


@pytest.fixture
def tiny_run(output_dir: Path) -> Callable[..., Path]:
    """tiny_run(*overrides): train the tiny model in a subprocess into a fresh output dir;
    it must succeed; returns its run dir (e2e)."""

    def run(*overrides: str, extra_env: dict[str, str] | None = None) -> Path:
        return train_tiny(output_dir, *overrides, extra_env=extra_env)

    return run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark e2e every test that reaches train.py through a fixture."""
    for item in items:
        if SUBPROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)


# The subprocess guard: while an unmarked test sets up, runs or tears down, starting a Python
# process (train.py, evaluate.py, pip, a bench script) fails the test with what to do.
_current: list[pytest.Item] = []


def _is_python_process(args: Any) -> bool:
    argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
    words = [os.fsdecode(a) for a in argv]
    if len(words) == 1:
        words = words[0].split()
    if not words:
        return False
    program = Path(words[0]).name
    return (
        words[0] == sys.executable
        or program.startswith("python")
        or any(w.endswith(".py") for w in words)
    )


_original_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]


def _guarded_execute_child(self: subprocess.Popen[Any], args: Any, *rest: Any) -> Any:
    item = _current[-1] if _current else None
    if item is not None and _is_python_process(args):
        if not any(item.get_closest_marker(m) for m in LAYER_MARKERS):
            raise pytest.fail.Exception(
                f"{item.nodeid} starts a subprocess ({args!r}) but is not marked e2e: use the "
                "`train_py`/`tiny_run` fixtures (they mark it), or add @pytest.mark.e2e "
                "(pytestmark = pytest.mark.e2e for a whole module)"
            )
    return _original_execute_child(self, args, *rest)


subprocess.Popen._execute_child = _guarded_execute_child  # type: ignore[attr-defined]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, None, None]:
    _current.append(item)
    try:
        return (yield)
    finally:
        _current.pop()
