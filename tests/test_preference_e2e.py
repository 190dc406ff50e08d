"""Preference tasks end to end through train.py on the tiny model: DPO with LoRA (exact resume
after a preemption), KTO with full fine-tuning (reference log-probabilities precomputed)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from framework.training.preemption import PREEMPTED_EXIT_CODE
from tests.helpers import interrupt_at_checkpoint, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

FAST = [
    "model=tiny",
    "dataset=chatterbot_prefs",
    "dataset.limit=48",
    "dataset.val_fraction=0.2",
    "dataset.val_max_rows=8",
    "dataset.max_length=48",
    "dataset.batch_size=4",
    "trainer.enable_progress_bar=false",
    "optim.lr=0.01",
    "task.generate_rows=0",
]
# DPO + LoRA with dropout (the RNG matters on resume); the reference is the adapter switched off.
DPO = [*FAST, "trainer.max_steps=6", "run.checkpoint_every_n_steps=2", "method.dropout=0.1"]
PAIR_METRICS = ("reward_accuracy", "reward_margin", "rewards_chosen", "rewards_rejected")
PAIR_METRICS += ("logps_chosen", "logps_rejected")


def metrics_of(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "metrics.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted DPO run."""
    out = tmp_path_factory.mktemp("dpo")
    result = run_train([*DPO, f"hydra.run.dir={out / 'run'}"], out)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "run"


def test_dpo_reports_rewards_before_and_after_and_learns(straight: Path) -> None:
    metrics = metrics_of(straight)
    for name in PAIR_METRICS:
        assert isinstance(metrics[f"val_{name}_before"], float), name
        assert isinstance(metrics[f"val_{name}_after"], float), name
    # Before training the policy is the reference: every implicit reward is 0, the loss log 2.
    assert metrics["val_reward_accuracy_before"] == 0.5
    assert metrics["val_rewards_chosen_before"] == 0.0
    assert metrics["val_loss_before"] == pytest.approx(0.693147, abs=1e-5)
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert metrics["train_rows"] > 0 and (straight / "adapter").is_dir()
    assert "val/reward_accuracy" in (straight / "logs" / "metrics.csv").read_text()


def test_dpo_resumed_after_preemption_matches_uninterrupted(straight: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "preempted"
    code = interrupt_at_checkpoint(DPO, run_dir, 2, signal.SIGUSR1, timeout=240)
    assert code == PREEMPTED_EXIT_CODE  # stopped, to be run again
    args = [*DPO, f"hydra.run.dir={run_dir}"]
    again = run_train(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in (run_dir / "train.log").read_text()
    a, b = metrics_of(straight), metrics_of(run_dir)
    for key in ("val_loss_after", *(f"val_{m}_after" for m in PAIR_METRICS)):
        assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_kto_full_fine_tuning_uses_precomputed_reference(tmp_path: Path) -> None:
    args = [*FAST, "task=kto", "method=full", "trainer.max_steps=4", "run.save_checkpoints=false"]
    result = run_train([*args, f"hydra.run.dir={tmp_path / 'run'}"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "run" / "train.log").read_text()
    assert "reference log-probabilities computed for" in log
    metrics = metrics_of(tmp_path / "run")
    assert metrics["val_loss_before"] == pytest.approx(0.5, abs=1e-6)  # 1 - sigmoid(0)
    assert metrics["val_reward_accuracy_before"] == 0.5
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert metrics["val_kl_after"] >= 0.0
