"""Before-training metrics no longer stand before step 1: adapter methods measure the base after
training with the adapter disabled (the same numbers as a validation before training); methods
that change the base in place read them from a cache keyed by model, data and evaluation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from framework.builders.model import build_source, build_tokenizer
from framework.data.cache import cache_key
from framework.hardware.machine import Machine
from framework.hardware.plan import HardwareSpec, resolve_plan
from framework.training.before_metrics import FOLDER, before_key
from framework.training.job import Job
from tests.helpers import TINY, compose_config


@pytest.fixture(scope="module")
def converted_tokenizers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's tokenizer converted once for this module (no other test needed first)."""
    cfg = compose_config(TINY)
    folder = tmp_path_factory.mktemp("tokenizers-cache")
    build_tokenizer(cfg.model, build_source(cfg.model), folder)
    return folder / "tokenizers"


@pytest.fixture
def cache_dir(tmp_path: Path, converted_tokenizers: Path) -> Path:
    """A fresh cache dir holding only the converted tokenizers (no before-metrics yet)."""
    folder = tmp_path / "cache"
    shutil.copytree(converted_tokenizers, folder / "tokenizers")
    return folder


def tiny_job(tmp_path: Path, cache_dir: Path, *overrides: str) -> Job:
    cfg = compose_config(
        [
            *TINY,
            f"paths.run_dir={tmp_path / 'run'}",
            f"paths.cache_dir={cache_dir}",
            "run.save_checkpoints=false",
            *overrides,
        ]
    )
    plan = resolve_plan(HardwareSpec.of_run(cfg), Machine.detect(probe_torch=True))
    return Job.from_config(cfg, plan)


def test_lora_before_metrics_after_training_equal_a_validation_before(
    tmp_path: Path, cache_dir: Path
) -> None:
    job = tiny_job(tmp_path, cache_dir, "method=lora")
    assert job.module.method.starts_as_base()
    old = job._evaluate()  # the old way: validate the fresh adapter before step 1
    metrics = job.fit()  # the new way: train, then validate with the adapter disabled
    assert metrics["val_loss_before"] == old["val/loss"]
    assert metrics["train_loss_before"] == old["train_eval/loss"]
    assert metrics["val_eos_stop_rate_before"] == old["val/eos_stop_rate"]
    assert metrics["val_perplexity_before"] == old["val/perplexity"]
    # The adapter did change the model: the disabled context is what restores the base.
    assert metrics["val_loss_after"] != metrics["val_loss_before"]
    assert not (cache_dir / FOLDER).exists()  # nothing cached for an adapter method


def test_lora_with_trained_biases_does_not_start_as_base(tmp_path: Path, cache_dir: Path) -> None:
    job = tiny_job(tmp_path, cache_dir, "method=lora", "method.bias=all")
    assert not job.module.method.starts_as_base()


def test_full_fine_tuning_reads_cached_before_metrics(tmp_path: Path, cache_dir: Path) -> None:
    first = tiny_job(tmp_path / "a", cache_dir, "method=full")
    assert not first.module.method.starts_as_base()
    measured = first._before_cached_or_measured()
    assert len(list((cache_dir / FOLDER).glob("*.json"))) == 1
    second = tiny_job(tmp_path / "b", cache_dir, "method=full")
    assert second._before_cached_or_measured() == measured
    assert second.module.model is None  # no validation ran: the model was never built
    metrics = second.fit()
    assert metrics["val_loss_before"] == measured["val/loss"]
    assert metrics["train_loss_before"] == measured["train_eval/loss"]


def test_before_key_follows_model_data_and_evaluation_settings() -> None:
    def key(*overrides: str) -> str:
        return before_key(compose_config(["method=full", *overrides]), "rows")

    base = key()
    assert key("task.max_new_tokens=4") != base
    assert key("run.seed=7") != base
    assert key("dataset.max_length=32") != base
    assert key("hardware.precision=bf16-true") != base
    assert before_key(compose_config(["method=full"]), "other rows") != base
    # Settings that do not touch the base's numbers keep the key.
    assert key("trainer.max_steps=99", "optim.lr=0.5", "run.name=x") == base
    assert key("dataset.description=words") == base


def test_data_key_is_the_tokenized_cache_key(tmp_path: Path, cache_dir: Path) -> None:
    job = tiny_job(tmp_path, cache_dir, "method=full")
    data = job.datamodule
    rows_key = cache_key((data.train_rows, data.val_rows), data.encoder)
    shorter = tiny_job(tmp_path / "b", cache_dir, "method=full", "dataset.limit=32")
    small = shorter.datamodule
    assert cache_key((small.train_rows, small.val_rows), small.encoder) != rows_key


def test_a_cache_miss_trains_exactly_as_a_hit(tmp_path: Path, cache_dir: Path) -> None:
    """The validation a miss runs before step 1 builds the model and draws random numbers: the
    run that read the cache instead must still draw the same dropout masks and end equal."""
    trained_biases = ("method=lora", "method.bias=all", "method.dropout=0.2")
    miss = tiny_job(tmp_path / "a", cache_dir, *trained_biases).fit()
    assert len(list((cache_dir / FOLDER).glob("*.json"))) == 1
    hit = tiny_job(tmp_path / "b", cache_dir, *trained_biases).fit()
    assert hit["val_loss_before"] == miss["val_loss_before"]
    assert hit["val_loss_after"] == miss["val_loss_after"]
    assert hit["train_loss_after"] == miss["train_loss_after"]
