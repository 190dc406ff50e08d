"""The bench scripts run end to end in their quickest mode (tiny model) and report a ratio."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.e2e  # every test here starts a subprocess


def run_bench(name: str, out: Path, *args: str) -> dict:
    """Run bench/<name>.py with BENCH_QUICK=1; its JSON result."""
    result_file = out / f"{name}.json"
    env = {**os.environ, "BENCH_QUICK": "1", "HYDRATUNE_OUTPUT": str(out / "runs")}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / f"{name}.py"),
            "--json",
            str(result_file),
            "--work",
            str(out / name),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads(result_file.read_text()))


def test_overhead_quick_reports_a_time_ratio_and_equal_first_losses(tmp_path: Path) -> None:
    result = run_bench("overhead", tmp_path)
    (row,) = result["summary"]
    assert (row["model"], row["method"], row["repeats"]) == ("tiny", "lora", 1)
    assert row["time_ratio"] == pytest.approx(row["hydratune_s_per_step"] / row["raw_s_per_step"])
    assert 0.2 < row["time_ratio"] < 5.0
    assert row["raw_peak_mib"] > 100 and row["hydratune_peak_mib"] > 100
    # Same base, rows, order and loss: the first step computes the same loss on both sides.
    assert row["first_loss_hydratune"] == pytest.approx(row["first_loss_raw"], rel=1e-5)
    assert "**time ratio**" in result["markdown"] and "| tiny | lora |" in result["markdown"]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="make bench-deps installs TRL")
def test_vs_trl_quick_reports_a_speed_ratio(tmp_path: Path) -> None:
    result = run_bench("vs_trl", tmp_path)
    (row,) = result["summary"]
    assert (row["model"], row["packing"]) == ("tiny", False)
    assert row["speed_ratio"] == pytest.approx(
        row["hydratune_tokens_per_s"] / row["trl_tokens_per_s"]
    )
    # The same rows and batch size: about the same non-padding tokens per step on both sides.
    assert row["trl_tokens_per_step"] == pytest.approx(row["hydratune_tokens_per_step"], rel=0.25)
    assert "**speed ratio**" in result["markdown"]


@pytest.mark.slow
def test_startup_quick_times_a_dry_run_and_a_first_step(tmp_path: Path) -> None:
    result = run_bench("startup", tmp_path)
    assert len(result["dry_run_s"]) == 1 and 0 < result["dry_run_s"][0] < 60
    assert len(result["first_step_s"]) == 1 and result["first_step_s"][0] > result["dry_run_s"][0]
    assert "run.dry_run=true" in result["markdown"]
