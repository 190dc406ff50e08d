"""Preference tuning at scale, as for SFT: DPO on two DDP ranks equals one process on the same
global batch, and a `-m task.preference.beta=...` sweep gives one trial per beta in which beta
scales the implicit rewards as the DPO paper defines them (r = beta * log-ratio)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

PREFS = [
    "model=tiny",
    "task=dpo",
    "dataset=chatterbot_prefs",
    "dataset.limit=48",
    "dataset.val_fraction=0.2",
    "dataset.val_max_rows=8",
    "dataset.max_length=48",
    "trainer.enable_progress_bar=false",
    "optim.lr=0.01",
    "task.generate_rows=0",
    "run.save_checkpoints=false",
]
# Same computation on one and two ranks (the loss is the mean over the global batch's pairs and
# each rank's gradient is scaled to it): only float summation order differs. As in
# tests/test_hardware.py (<= 2e-6 measured there), 1e-4 relative is tight but not flaky.
REL_TOL = 1e-4
PAIR_METRICS = ("loss", "reward_accuracy", "reward_margin", "rewards_chosen", "logps_chosen")


def metrics_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())  # type: ignore[no-any-return]


def train_losses(run_dir: Path) -> dict[int, float]:
    with (run_dir / "logs/metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["train/loss"]]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


def test_dpo_on_two_ddp_ranks_equals_one_process(tmp_path: Path) -> None:
    """Batch 4 in one process vs 2 x 2 on hardware=cpu_ddp: the same per-step DPO losses, the
    same held-out rewards after training, the same adapter weights."""
    steps = ["trainer.max_steps=4"]
    single = run_train([*PREFS, *steps, "dataset.batch_size=4"], tmp_path / "one", timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    ranks = ["hardware=cpu_ddp", "hardware.devices=2", "dataset.batch_size=2"]
    double = run_train([*PREFS, *steps, *ranks], tmp_path / "two", timeout=900)
    assert double.returncode == 0, double.stderr[-3000:]
    (one,), (two,) = run_dirs(tmp_path / "one"), run_dirs(tmp_path / "two")
    expected, got = train_losses(one), train_losses(two)
    assert sorted(got) == sorted(expected) == [0, 1, 2, 3]
    assert expected[0] == pytest.approx(0.693147, abs=1e-5)  # log 2: the policy is the reference
    assert expected[1] != pytest.approx(expected[0], abs=1e-4)  # then it moves: not two no-ops
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=REL_TOL), f"step {step}"
    a, b = metrics_of(one), metrics_of(two)
    assert abs(a["val_reward_margin_after"]) > 1e-4
    assert a["val_reward_accuracy_after"] == b["val_reward_accuracy_after"]
    for name in PAIR_METRICS:
        key = f"val_{name}_after"
        assert b[key] == pytest.approx(a[key], rel=REL_TOL, abs=1e-6), key
    weights_one = load_file(str(one / "adapter/adapter_model.safetensors"))
    weights_two = load_file(str(two / "adapter/adapter_model.safetensors"))
    assert weights_one.keys() == weights_two.keys() and weights_one
    for name, tensor in weights_one.items():
        assert torch.allclose(weights_two[name], tensor, rtol=REL_TOL, atol=1e-6), name


def test_beta_sweep_runs_one_trial_per_beta_and_beta_scales_the_rewards(tmp_path: Path) -> None:
    """One AdamW step from the reference (h = 0 for every pair): the gradient is beta/2 times
    the same vector and Adam's first step is invariant to its scale, so both trials end at the
    same weights; the rewards (beta x log-ratio) and margins then differ by the ratio of the
    betas, while the loss before training is log 2 whatever beta."""
    args = ["-m", *PREFS, "dataset.batch_size=4", "trainer.max_steps=1", "optim.warmup_steps=0"]
    result = run_train([*args, "task.preference.beta=0.1,1.0"], tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep_dir,) = [p for p in (tmp_path / "multirun").iterdir() if p.is_dir()]
    trials = sorted(p.parent.parent for p in sweep_dir.rglob(".hydra/overrides.yaml"))
    by_beta: dict[float, dict[str, Any]] = {}
    for trial in trials:
        by_beta[_beta_of(trial)] = metrics_of(trial)
    assert sorted(by_beta) == [0.1, 1.0]
    with (sweep_dir / "sweep_summary.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["overrides"] for r in rows)[0].endswith("task.preference.beta=0.1")
    assert all(r["status"] == "ok" for r in rows) and len(rows) == 2
    low, high = by_beta[0.1], by_beta[1.0]
    for m in (low, high):
        assert m["val_loss_before"] == pytest.approx(0.693147, abs=1e-5)
        assert m["val_reward_accuracy_before"] == 0.5
    for name in ("rewards_chosen", "rewards_rejected", "reward_margin"):
        key = f"val_{name}_after"
        assert abs(low[key]) > 1e-4, key  # the step moved the policy away from the reference
        assert high[key] == pytest.approx(10.0 * low[key], rel=1e-2), key
    # The same weights: the per-token log-probabilities agree, and so does which reply wins.
    assert high["val_logps_chosen_after"] == pytest.approx(low["val_logps_chosen_after"], rel=1e-4)
    assert high["val_reward_accuracy_after"] == low["val_reward_accuracy_after"]
    assert high["val_loss_after"] != pytest.approx(low["val_loss_after"], rel=1e-3)


def _beta_of(trial: Path) -> float:
    import yaml

    config = yaml.safe_load((trial / "config.yaml").read_text())
    return float(config["task"]["preference"]["beta"])
