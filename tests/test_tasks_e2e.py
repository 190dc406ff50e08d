"""End to end per task on tiny models: the task metric is computed, logged and improves."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.data_fixtures import classification_csv, instruction_jsonl, qa_jsonl, tagging_jsonl
from tests.helpers import run_dirs, run_train

FAST = [
    "dataset=file",
    "dataset.val_fraction=0.2",
    "dataset.val_max_rows=16",
    "dataset.batch_size=8",
    "trainer.max_steps=30",
    "trainer.enable_progress_bar=false",
    "run.save_checkpoints=false",
    "method=lora",
    "optim.lr=0.01",
]


def train(tmp_path: Path, args: list[str]) -> tuple[Path, dict[str, object]]:
    """Run train.py; return the run dir and its metrics.json."""
    result = run_train([*FAST, *args], tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path / "out")
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def logged(run_dir: Path, column: str) -> list[float]:
    """Values of a column in the run's Lightning CSV log (validation during training)."""
    with (run_dir / "logs/metrics.csv").open() as handle:
        return [float(r[column]) for r in csv.DictReader(handle) if r.get(column)]


def test_seq_cls_reports_accuracy_and_macro_f1(tmp_path: Path) -> None:
    data = classification_csv(tmp_path / "reviews.csv")
    args = ["model=tiny_bert", "task=seq_cls", f"dataset.path={data}"]
    args += ["dataset.format=classification", "dataset.columns.text=sentence"]
    args += ["dataset.columns.label=sentiment"]
    run_dir, metrics = train(tmp_path, args)
    assert metrics["labels"] == ["neg", "pos"]
    assert metrics["val_accuracy_after"] > metrics["val_accuracy_before"]
    assert metrics["val_macro_f1_after"] > metrics["val_macro_f1_before"]
    assert metrics["reload_max_logit_diff"] == 0.0
    assert logged(run_dir, "val/accuracy")
    adapter = json.loads((run_dir / "adapter/adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS"


def test_token_cls_reports_entity_f1(tmp_path: Path) -> None:
    data = tagging_jsonl(tmp_path / "ner.jsonl")
    args = ["model=tiny_bert", "task=token_cls", f"dataset.path={data}"]
    args += ["dataset.format=token_classification", "dataset.columns.tokens=words"]
    args += ["dataset.columns.tags=ner"]
    run_dir, metrics = train(tmp_path, args)
    assert metrics["labels"] == ["O", "B-LOC", "B-PER"]
    assert metrics["val_entity_f1_after"] > metrics["val_entity_f1_before"]
    assert metrics["val_entity_f1_after"] > 0.5
    assert logged(run_dir, "val/entity_f1")
    adapter = json.loads((run_dir / "adapter/adapter_config.json").read_text())
    assert adapter["task_type"] == "TOKEN_CLS"


def test_extractive_qa_reports_exact_match_and_f1(tmp_path: Path) -> None:
    data = qa_jsonl(tmp_path / "qa.jsonl")
    args = ["model=tiny_bert", "task=qa", f"dataset.path={data}", "dataset.format=qa"]
    run_dir, metrics = train(tmp_path, args)
    assert metrics["val_exact_match_after"] > metrics["val_exact_match_before"]
    assert metrics["val_f1_after"] > metrics["val_f1_before"]
    assert logged(run_dir, "val/exact_match")


@pytest.mark.parametrize("packing", [False, True])
def test_causal_lm_instruction_reports_perplexity_with_and_without_packing(
    tmp_path: Path, packing: bool
) -> None:
    data = instruction_jsonl(tmp_path / "alpaca.jsonl")
    args = ["model=tiny", f"dataset.path={data}", "dataset.format=instruction"]
    args += [f"dataset.packing={packing}", "dataset.max_length=256", "trainer.max_steps=6"]
    run_dir, metrics = train(tmp_path, args)
    assert metrics["val_perplexity_after"] < metrics["val_perplexity_before"]
    assert metrics["val_loss_after"] < metrics["val_loss_before"]
    assert logged(run_dir, "val/perplexity")
    if packing:
        assert metrics["train_sequences"] < metrics["train_rows"]
        assert metrics["padding_ratio"] < metrics["padding_ratio_unpacked"]
    else:
        assert metrics["train_sequences"] == metrics["train_rows"]
        assert metrics["padding_ratio"] == metrics["padding_ratio_unpacked"]
