"""The best-check state (run.keep_best, early stopping) survives a checkpoint: the best value,
step and weights and the patience counter round-trip through torch.save / a weights_only load,
so a resumed run keeps the same best and stops at the same check."""

from __future__ import annotations

import io
import json
import logging
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from framework.training.best import BestWeights
from framework.training.preemption import PREEMPTED_EXIT_CODE
from tests.helpers import TINY, interrupt_at_checkpoint, run_train


def _through_a_checkpoint(tracker: BestWeights) -> dict[str, object]:
    """The callback state as a resume reads it: saved with torch, loaded weights_only."""
    buffer = io.BytesIO()
    torch.save({"callbacks": {"BestWeights": tracker.state_dict()}}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, map_location="cpu", weights_only=True)
    return loaded["callbacks"]["BestWeights"]  # type: ignore[no-any-return]


def _set(module: torch.nn.Linear, value: float) -> None:
    with torch.no_grad():
        module.weight.fill_(value)


def test_best_value_weights_and_patience_survive_a_checkpoint() -> None:
    module = torch.nn.Linear(2, 1)
    first = BestWeights("val/loss", higher=False, patience=2)
    _set(module, 1.0)
    assert first.offer(module, 0.9, 10)  # type: ignore[arg-type]
    _set(module, 2.0)
    assert not first.offer(module, 1.1, 20)  # type: ignore[arg-type]  # one stale check

    resumed = BestWeights("val/loss", higher=False, patience=2)  # a fresh process
    resumed.load_state_dict(_through_a_checkpoint(first))
    assert resumed.report() == first.report()
    assert resumed.stale_checks == 1 and resumed.checks == [(10, 0.9), (20, 1.1)]
    # A worse value than the restored best is not a new best (a fresh tracker would take it).
    _set(module, 3.0)
    assert not resumed.offer(module, 1.0, 30)  # type: ignore[arg-type]
    assert resumed.stale_checks == 2  # patience 2 reached: a resumed run stops here too
    assert resumed.restore(module)  # type: ignore[arg-type]
    assert module.weight.tolist() == [[1.0, 1.0]]  # the step-10 weights, from the checkpoint
    assert resumed.report()["best_step"] == 10 and resumed.report()["validation_checks"] == 3


def test_keep_false_saves_no_weights_and_another_metric_starts_over(
    caplog: pytest.LogCaptureFixture,
) -> None:
    module = torch.nn.Linear(2, 1)
    tracker = BestWeights("val/accuracy", higher=True, keep=False)
    assert tracker.offer(module, 0.7, 5)  # type: ignore[arg-type]
    state = _through_a_checkpoint(tracker)
    assert state["weights"] is None and state["best_value"] == 0.7

    other = BestWeights("val/loss", higher=False)
    with caplog.at_level(logging.WARNING):
        other.load_state_dict(state)
    assert other.report() == {} and other.checks == []
    assert "tracked the best val/accuracy, this run tracks val/loss" in caplog.text


# A tiny run validated every 2 steps, checkpointed every 4, its best check kept by val/loss.
BEST = [a for a in TINY if not a.startswith(("trainer.max_steps", "optim.lr"))]
BEST += ["trainer.max_steps=12", "trainer.val_check_interval=2", "run.checkpoint_every_n_steps=4"]
BEST += ["optim.lr=0.1", "optim.scheduler=constant", "run.keep_best=val/loss"]
BEST += ["run.early_stopping_patience=20"]
REPORT = ("best_metric", "best_step", "validation_checks", "kept_best", "stopped_early")


@pytest.mark.e2e
def test_a_killed_and_resumed_run_keeps_the_same_best(tmp_path: Path) -> None:
    """Preempted after its step-8 checkpoint and run again: the resumed run knows the checks
    before the kill, so its best step, value and restored weights are the uninterrupted run's."""
    straight = tmp_path / "straight"
    result = run_train([*BEST, f"hydra.run.dir={straight}"], tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = tmp_path / "preempted"
    code = interrupt_at_checkpoint(BEST, run_dir, 8, signal.SIGUSR1, timeout=900)
    assert code == PREEMPTED_EXIT_CODE
    args = [*BEST, f"hydra.run.dir={run_dir}"]
    again = run_train(args, tmp_path, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    # The checks at steps 2, 4, 6 and 8 come back from the step-8 checkpoint: it is written
    # once step 8 is done, its validation included (checkpointing.py), so none is skipped.
    restored = "best check restored from the checkpoint: val/loss="
    log = (run_dir / "train.log").read_text()
    assert restored in log and "(4 checks, 0 stale)" in log.split(restored)[1].splitlines()[0]
    a = json.loads((straight / "metrics.json").read_text())
    b = json.loads((run_dir / "metrics.json").read_text())
    assert {k: b[k] for k in REPORT} == {k: a[k] for k in REPORT}
    assert a["validation_checks"] == 6 and a["kept_best"] is True
    assert b["best_value"] == pytest.approx(a["best_value"], abs=1e-6)
    assert b["val_loss_after"] == pytest.approx(a["val_loss_after"], abs=1e-6)
    weights_a = load_file(str(straight / "adapter/adapter_model.safetensors"))
    weights_b = load_file(str(run_dir / "adapter/adapter_model.safetensors"))
    for name, tensor in weights_a.items():
        assert torch.allclose(weights_b[name], tensor, atol=1e-6), name
