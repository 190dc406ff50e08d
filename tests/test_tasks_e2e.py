"""End to end per task on tiny models: the task metric is computed, logged and improves."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from tests.data_fixtures import classification_csv, instruction_jsonl, qa_jsonl, tagging_jsonl
from tests.helpers import run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

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


def train(tmp_path: Path, args: list[str], lr: str = "0.01") -> tuple[Path, dict[str, object]]:
    """Run train.py; return the run dir and its metrics.json."""
    fast = [a if not a.startswith("optim.lr=") else f"optim.lr={lr}" for a in FAST]
    result = run_train([*fast, *args], tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path / "out")
    return run_dir, json.loads((run_dir / "metrics.json").read_text())


def logged(run_dir: Path, column: str) -> list[float]:
    """Values of a column in the run's Lightning CSV log (validation during training)."""
    with (run_dir / "logs/metrics.csv").open() as handle:
        return [float(r[column]) for r in csv.DictReader(handle) if r.get(column)]


# Heads on an encoder (BERT) and on a decoder (Llama: the head pools the last real token and
# is saved with the adapter through modules_to_save).
HEAD_MODELS = pytest.mark.parametrize("model", ["tiny_bert", "tiny"])


# The encoder side on the pretrained MiniLM: a random tiny BERT's [CLS] separated the two words
# within 30 steps for one seed in three (the test passed by luck until the RNG stream moved);
# MiniLM at its documented lr reached accuracy 1.0 for each of seeds 42, 1 and 7.
@pytest.mark.parametrize(("model", "lr"), [("minilm", "0.002"), ("tiny", "0.01")])
def test_seq_cls_reports_accuracy_and_macro_f1(tmp_path: Path, model: str, lr: str) -> None:
    data = classification_csv(tmp_path / "reviews.csv")
    args = [f"model={model}", "task=seq_cls", f"dataset.path={data}"]
    args += ["dataset.format=classification", "dataset.columns.text=sentence"]
    args += ["dataset.columns.label=sentiment"]
    run_dir, metrics = train(tmp_path, args, lr)
    assert metrics["labels"] == ["neg", "pos"]
    assert metrics["val_accuracy_after"] > metrics["val_accuracy_before"]
    assert metrics["val_macro_f1_after"] > metrics["val_macro_f1_before"]
    assert metrics["reload_max_logit_diff"] == 0.0
    assert "chat_template_eos_ok" not in metrics  # a head, not generation
    assert logged(run_dir, "val/accuracy")
    adapter = json.loads((run_dir / "adapter/adapter_config.json").read_text())
    assert adapter["task_type"] == "SEQ_CLS"
    if model == "tiny":
        assert metrics["val_accuracy_after"] >= 0.9
        assert "score" in adapter["modules_to_save"]  # the new head is trained and saved


@HEAD_MODELS
def test_token_cls_reports_entity_f1(tmp_path: Path, model: str) -> None:
    data = tagging_jsonl(tmp_path / "ner.jsonl")
    args = [f"model={model}", "task=token_cls", f"dataset.path={data}"]
    args += ["dataset.format=token_classification", "dataset.columns.tokens=words"]
    args += ["dataset.columns.tags=ner"]
    run_dir, metrics = train(tmp_path, args)
    assert metrics["labels"] == ["O", "B-LOC", "B-PER"]
    assert metrics["val_entity_f1_after"] > metrics["val_entity_f1_before"]
    assert metrics["val_entity_f1_after"] > 0.5
    assert metrics["reload_max_logit_diff"] == 0.0
    assert logged(run_dir, "val/entity_f1")
    adapter = json.loads((run_dir / "adapter/adapter_config.json").read_text())
    assert adapter["task_type"] == "TOKEN_CLS"
    if model == "tiny":
        assert "score" in adapter["modules_to_save"]


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
        # best-fit blocks come out nearly full; only the last, partial block pads (these
        # rows are of similar length, so unpacked batches pad little too: no order asserted)
        assert metrics["padding_ratio"] < 0.15
    else:
        assert metrics["train_sequences"] == metrics["train_rows"]
        assert metrics["padding_ratio"] == metrics["padding_ratio_unpacked"]


def samples_of(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of the run's samples.jsonl."""
    lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


# Generation metrics are checked for consistency (recomputed from samples.jsonl), not for
# learning: a tiny random model learns little in a few steps.
GENERATE = ["trainer.max_steps=6", "task.max_new_tokens=8"]


def test_translation_reports_bleu_chrf_and_writes_samples(tmp_path: Path) -> None:
    import sacrebleu

    args = ["model=tiny", "dataset=iso_countries_fr", "dataset.limit=80"]
    args += ["task.generate_rows=6", "dataset.max_length=48", *GENERATE]
    result = run_train([*FAST[1:], *args], tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path / "out")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name in ("bleu", "chrf"):
        for when in ("before", "after"):
            assert 0.0 <= metrics[f"val_{name}_{when}"] <= 100.0
    assert "val_exact_match_after" not in metrics  # translation is scored by BLEU/chrF only
    assert logged(run_dir, "val/chrf") and logged(run_dir, "val/bleu")
    samples = samples_of(run_dir)
    assert len(samples) == metrics["generated_samples"] == 6
    assert set(samples[0]) == {"prompt", "reference", "generated", "stopped_at_eos", "origin"}
    assert all(s["prompt"].startswith("Translate from English to French: ") for s in samples)
    hypotheses, references = [s["generated"] for s in samples], [s["reference"] for s in samples]
    chrf = sacrebleu.corpus_chrf(hypotheses, [references]).score
    bleu = sacrebleu.corpus_bleu(hypotheses, [references]).score
    assert metrics["val_chrf_after"] == pytest.approx(chrf)
    assert metrics["val_bleu_after"] == pytest.approx(bleu)
    rate = sum(bool(s["stopped_at_eos"]) for s in samples) / len(samples)
    assert metrics["eos_stop_rate"] == metrics["val_eos_stop_rate_after"] == rate
    assert metrics["chat_template_eos_ok"] is True
    card = (run_dir / "README.md").read_text()
    assert "samples.jsonl" in card and "stopped at EOS" in card


def test_qa_as_generation_reports_exact_match_and_f1(tmp_path: Path) -> None:
    from framework.tasks.metrics import squad_scores

    data = qa_jsonl(tmp_path / "qa.jsonl")
    args = ["model=tiny", f"dataset.path={data}", "dataset.format=qa", "task.generate_rows=8"]
    run_dir, metrics = train(tmp_path, [*args, *GENERATE])
    for name in ("exact_match", "f1"):
        for when in ("before", "after"):
            assert 0.0 <= metrics[f"val_{name}_{when}"] <= 100.0
    assert "val_bleu_after" not in metrics
    assert logged(run_dir, "val/exact_match") and logged(run_dir, "val/f1")
    samples = samples_of(run_dir)
    assert len(samples) == 8
    places = {"paris", "london", "tokyo", "lima", "oslo", "cairo", "delhi", "rome"}
    assert {s["reference"] for s in samples} <= places
    scores = [squad_scores(s["generated"], [s["reference"]]) for s in samples]
    assert metrics["val_exact_match_after"] == pytest.approx(100 * sum(e for e, _ in scores) / 8)
    assert metrics["val_f1_after"] == pytest.approx(100 * sum(f for _, f in scores) / 8)
    assert 0.0 <= metrics["eos_stop_rate"] <= 1.0


def test_generation_metrics_under_ddp_come_from_every_rank_and_one_file(tmp_path: Path) -> None:
    """Both ranks generate the same rows (synced); rank 0 alone writes samples.jsonl."""
    args = ["model=tiny", "dataset=iso_countries_fr", "dataset.limit=40", "dataset.val_max_rows=8"]
    args += ["dataset.batch_size=2", "dataset.max_length=48", "hardware=cpu_ddp"]
    args += ["hardware.devices=2", "trainer.max_steps=2", "task.generate_rows=4"]
    args += ["task.max_new_tokens=6", "trainer.enable_progress_bar=false"]
    result = run_train([*args, "run.save_checkpoints=false"], tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path / "out")
    assert [p.parent for p in (tmp_path / "out").rglob("samples.jsonl")] == [run_dir]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"val_bleu_after", "val_chrf_after", "val_chrf_before"} <= set(metrics)
    assert len(samples_of(run_dir)) == metrics["generated_samples"] == 4
    assert "generation metrics skipped" not in result.stderr
