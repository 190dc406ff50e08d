"""Resume refuses the wrong checkpoint before writing anything: a different shape or data is
refused, other changed hyperparameters need run.resume_changes=allow and are recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import TINY, run_train

pytestmark = pytest.mark.e2e  # train.py in subprocesses

BASE = [*TINY, "trainer.max_steps=4", "run.checkpoint_every_n_steps=2", "method.r=4"]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of the run dir but the log Hydra appends to and the lock naming its holder."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name not in ("train.log", ".lock")
    }


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("resume") / "run"
    result = run_train([*BASE, f"hydra.run.dir={run_dir}"], run_dir.parent)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "checkpoints" / "fingerprint.json").is_file()
    return run_dir


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["method.alpha=64"], "method.alpha: checkpoint 16, now 64"),
        (["method=dora"], "method.name"),
        (["dataset.limit=48"], "dataset.limit"),
        (["optim.lr=0.02"], "run.resume_changes=allow"),
        (["hardware=cpu_ddp"], "written by 1 rank(s) (processes) and this run has 2"),
    ],
    ids=["alpha", "dora", "data", "lr", "ranks"],
)
def test_an_incompatible_resume_exits_2_before_writing(
    finished: Path, change: list[str], expected: str
) -> None:
    before = snapshot(finished)
    result = run_train([*BASE, *change, f"hydra.run.dir={finished}"], finished.parent)
    assert result.returncode == 2, result.stderr[-3000:]
    assert expected in result.stderr, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert snapshot(finished) == before


def test_a_foreign_file_is_refused_at_once(tmp_path: Path) -> None:
    result = run_train([*TINY, "run.resume=/etc/passwd"], tmp_path)
    assert result.returncode == 2
    assert "not a hydratune checkpoint" in result.stderr
    assert not any(tmp_path.rglob("*.yaml")), "nothing is written for a refused run"


def test_allowed_changes_resume_and_are_recorded(finished: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "copy"
    run_train([*BASE, f"hydra.run.dir={run_dir}"], tmp_path)  # its own finished run
    more = [*BASE, "trainer.max_steps=6", "run.resume_changes=allow", f"hydra.run.dir={run_dir}"]
    result = run_train(more, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((run_dir / "metrics.json").read_text())["steps"] == 6
    (entry,) = [json.loads(line) for line in (run_dir / "resume_history.jsonl").open()]
    assert entry["changes"]["trainer.max_steps"] == ["4", "6"]
    assert (run_dir / ".hydra" / "attempt-1" / "overrides.yaml").is_file()
    steps = [
        line.split(",") for line in (run_dir / "logs" / "metrics.csv").read_text().splitlines()
    ]
    assert len(steps) > 6, "the first attempt's rows are kept"
