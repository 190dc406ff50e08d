"""Recipes that learn on imbalanced data, end to end: collapse is reported, the default
recipe (head LR, validation during training, keep_best) avoids it; keep_best, the loss
curve's validation points and the LR finder through train.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.data_fixtures import imbalanced_tagging_jsonl
from tests.helpers import TINY, run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

# ~95% of the tags are "O": a random-weight BERT with LoRA at one LR predicts only "O".
NER = [
    "model=tiny_bert",
    "task=token_cls",
    "dataset=file",
    "dataset.format=token_classification",
    "dataset.columns.tokens=words",
    "dataset.columns.tags=ner",
    "dataset.val_fraction=0.2",
    "dataset.val_max_rows=32",
    "dataset.batch_size=8",
    "method=lora",
    "optim.lr=0.01",
    "trainer.max_steps=60",
    "trainer.enable_progress_bar=false",
    "run.save_checkpoints=false",
]


def train(output_dir: Path, args: list[str]) -> tuple[Path, dict[str, Any]]:
    """Run train.py; return the run dir and its metrics.json."""
    result = run_train(args, output_dir, timeout=900)  # a shared 2-core machine can be slow
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(output_dir)
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def validation_steps(run_dir: Path) -> list[int]:
    """Steps at which logs/metrics.csv has a val/loss."""
    with (run_dir / "logs/metrics.csv").open() as handle:
        return [int(float(r["step"])) for r in csv.DictReader(handle) if r.get("val/loss")]


def test_imbalanced_tagging_collapses_with_one_lr_and_learns_with_the_defaults(
    tmp_path: Path,
) -> None:
    data = imbalanced_tagging_jsonl(tmp_path / "ner.jsonl")
    args = [*NER, f"dataset.path={data}"]

    # The plain recipe: one LR for adapters and the fresh head, the last weights.
    plain_dir, plain = train(tmp_path / "plain", [*args, "optim.head_lr_ratio=1"])
    assert plain["collapsed"] is True
    assert plain["collapse_class"] == "O" and plain["collapse_share"] > 0.99
    assert plain["val_entity_f1_after"] == 0.0  # the majority baseline: no entity found
    assert plain["per_class"]["B-PER"]["recall"] == 0.0
    assert "## WARNING: collapsed" in (plain_dir / "README.md").read_text()

    # The defaults (head LR ratio, validation every 12 steps) and the best check kept.
    best_dir, best = train(tmp_path / "best", [*args, "run.keep_best=val/entity_f1"])
    assert best["collapsed"] is False
    assert best["val_entity_f1_after"] > 0.2 > plain["val_entity_f1_after"]
    assert best["best_metric"] == "val/entity_f1" and best["kept_best"] is True
    assert best["val_entity_f1_after"] == pytest.approx(best["best_value"])
    assert set(best["per_class"]) == {"O", "B-LOC", "B-PER"}
    steps = validation_steps(best_dir)
    assert [s for s in steps if 0 < s < 60] == [11, 23, 35, 47, 59]  # checks during fit
    card = (best_dir / "README.md").read_text()
    assert f"at step {best['best_step']} of 60" in card and "## Per class" in card
    assert (best_dir / "loss_curve.png").is_file()


def test_keep_best_val_loss_restores_the_best_check(output_dir: Path) -> None:
    args = [*TINY, "trainer.val_check_interval=2", "run.keep_best=val/loss"]
    args += ["run.early_stopping_patience=5", "run.save_checkpoints=false"]
    run_dir, metrics = train(output_dir, args)
    assert metrics["best_metric"] == "val/loss" and metrics["best_step"] in (2, 4)
    assert metrics["val_loss_after"] == pytest.approx(metrics["best_value"])
    assert metrics["validation_checks"] == 2 and metrics["stopped_early"] is False
    # Lightning logs a check during fit at the step before its global step: 1 for step 2.
    assert [s for s in validation_steps(run_dir) if 0 < s < 4] == [1, 3]
    assert "## Best check" in (run_dir / "README.md").read_text()


def test_find_lr_prints_a_suggestion_saves_the_plot_and_exits(output_dir: Path) -> None:
    result = run_train([*TINY, "run.find_lr=true", "run.save_checkpoints=false"], output_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "LR finder:" in result.stdout
    (run_dir,) = run_dirs(output_dir)
    assert (run_dir / "lr_finder.png").is_file()
    found = json.loads((run_dir / "lr_finder.json").read_text())
    assert found["trial_steps"] == 20 and len(found["lr"]) == len(found["loss"]) > 0
    assert not (run_dir / "metrics.json").exists()  # nothing trained, no weights written
