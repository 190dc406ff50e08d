"""Sweeps through Hydra multirun: grids (basic, joblib, submitit local), Optuna resume, summary."""

from __future__ import annotations

import csv
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.helpers import run_train, start_train, wait_for

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

FAST = [
    "model=tiny",
    "dataset.limit=32",
    "dataset.val_max_rows=4",
    "dataset.batch_size=4",
    "trainer.max_steps=2",
    "trainer.enable_progress_bar=false",
]


def trial_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))


def summary_rows(sweep_dir: Path) -> list[dict[str, str]]:
    with (sweep_dir / "sweep_summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def check_grid(out: Path) -> None:
    (sweep_dir,) = [p for p in (out / "multirun").iterdir() if p.is_dir()]
    trials = trial_dirs(sweep_dir)
    assert len(trials) == 4
    assert all((t / "metrics.json").is_file() and (t / "adapter").is_dir() for t in trials)
    rows = summary_rows(sweep_dir)
    assert sorted(r["overrides"].split()[0] + " " + r["overrides"].split()[1] for r in rows) == [
        "method=dora method.r=4",
        "method=dora method.r=8",
        "method=lora method.r=4",
        "method=lora method.r=8",
    ]
    assert all(r["status"] == "ok" and float(r["val_loss_after"]) > 0 for r in rows)
    params = {r["overrides"].split()[1]: int(r["trainable_parameters"]) for r in rows}
    assert params["method.r=8"] > params["method.r=4"]
    assert (sweep_dir / "sweep_summary.md").read_text().startswith("# Sweep summary: 4 of 4")
    assert (sweep_dir / "sweep_summary.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("sweep", ["grid", "grid_parallel"])
def test_four_trial_grid_gives_four_run_dirs_and_a_summary(sweep: str, tmp_path: Path) -> None:
    result = run_train(["-m", f"+sweep={sweep}", *FAST], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    check_grid(tmp_path)


def test_submitit_local_launcher_runs_trials(tmp_path: Path) -> None:
    result = run_train(["-m", "+sweep=slurm_local", *FAST], tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = [p for p in (tmp_path / "multirun").iterdir() if p.is_dir()]
    rows = summary_rows(sweep_dir)
    assert sorted(r["overrides"].split()[0] for r in rows) == ["method=dora", "method=lora"]
    assert all(r["status"] == "ok" for r in rows)
    assert list(sweep_dir.rglob("*submitted.pkl")), "submitit did not run the jobs"


def completed(db: Path, study: str) -> int:
    with sqlite3.connect(db) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        if "trials" not in tables:  # Optuna has not created its schema yet
            return 0
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM trials JOIN studies USING (study_id) "
            "WHERE study_name = ? AND state = 'COMPLETE'",
            (study,),
        ).fetchone()
    return int(count)


def test_killed_optuna_sweep_resumes_running_only_the_remaining_trials(tmp_path: Path) -> None:
    args = ["-m", "+sweep=optuna", *FAST, "run.name=study", "run.sweep_trials=4"]
    db = tmp_path / "optuna" / "study.db"
    proc = start_train(args, tmp_path)
    wait_for(
        lambda: db.is_file() and completed(db, "study") >= 2,
        proc,
        500,
        "2 completed trials",
        poll=0.1,
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert completed(db, "study") == 2

    result = run_train(args, tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert completed(db, "study") == 4
    log = result.stdout + result.stderr
    assert log.count("Launching 1 jobs locally") == 2  # only the remaining 2 ran
    rows = summary_rows(tmp_path / "optuna" / "study")
    assert sum(r["status"] == "ok" for r in rows) == 4


def test_disallowed_target_is_refused_with_the_key(tmp_path: Path) -> None:
    shared = tmp_path / "team" / "conf" / "hydra" / "callbacks"
    shared.parent.parent.mkdir(parents=True)
    evil = tmp_path / "team" / "conf" / "optim"
    evil.mkdir(parents=True)
    (evil / "evil.yaml").write_text("name: adamw\nlr: 0.001\n")
    args = [
        f"hydra.searchpath=[file://{tmp_path / 'team' / 'conf'}]",
        "optim=evil",
        "+hydra.callbacks.evil._target_=os.system",
        "model=tiny",
    ]
    result = run_train(args, tmp_path / "out", timeout=120)
    assert result.returncode == 2, result.stderr
    assert "hydra.callbacks.evil._target_='os.system' is not an allowed _target_" in result.stderr
    assert "framework.sweeps.summary.SweepSummary" in result.stderr
    assert "Traceback" not in result.stderr
