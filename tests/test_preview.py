"""run.preview=N: training rows rendered as trained, for every task (tokenizer only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from framework.config.schema import register_schemas
from framework.data.preview import render_preview
from framework.errors import UserError
from framework.methods.discovery import discover_methods
from tests.helpers import ROOT, TINY, compose_config, run_train

register_schemas()
discover_methods(ROOT / "plugins")
COUNTS = re.compile(r"\((\d+) tokens, (\d+) trained, (not truncated|truncated)\)")


def _preview(overrides: list[str], count: int = 2) -> str:
    return render_preview(compose_config(["model=tiny", *overrides]), count)


def test_chat_rows_mark_the_reply_and_its_end_marker() -> None:
    text = _preview(["dataset=chatterbot"], 3)
    assert text.startswith("preview: 3 of ")
    blocks = text.split("\n--- ")[1:]
    assert len(blocks) == 3
    for block in blocks:
        prompt, trained = block.split("[[", 1)
        assert prompt.rstrip().endswith("<|im_start|>assistant")
        reply = trained.split("]]", 1)[0]
        assert reply.endswith("<|im_end|>") and "<|im_start|>" not in reply
        total, marked, _ = COUNTS.search(block).groups()  # type: ignore[union-attr]
        assert 0 < int(marked) < int(total)


def test_truncation_is_shown() -> None:
    text = _preview(["dataset=chatterbot", "dataset.max_length=40"], 4)
    assert "truncated)" in text
    for total, _, _ in COUNTS.findall(text):
        assert int(total) <= 40


@pytest.mark.e2e  # in-process, but every task's corpus loads: kept out of make test-fast
@pytest.mark.parametrize(
    ("overrides", "expect"),
    [
        (["model=tiny_bert", "dataset=wordnet_pos"], r"-> class \[\[(noun|verb|adj|adv)"),
        (["model=tiny_bert", "dataset=iso_entities"], r"/B-[A-Z]+"),
        (["model=tiny_bert", "dataset=iso_codes_qa"], r"\[\[[^\]]+\]\].*answer span"),
        (["dataset=chatterbot_prefs"], r"  chosen: \[\[.+\]\]\n  rejected: \[\["),
        (["dataset=chatterbot_prefs", "task=kto"], r"reply \((un)?desirable\): \[\["),
        (["dataset=iso_countries_fr"], r"Translate.*\n?.*\[\[.+\]\]"),
        (["dataset=fortunes"], r"\(\d+ tokens, \d+ trained"),
    ],
    ids=["seq_cls", "token_cls", "qa", "dpo", "kto", "translation", "text"],
)
def test_every_task_previews(overrides: list[str], expect: str) -> None:
    text = _preview(overrides)
    assert re.search(expect, text, re.S), text[:2000]


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(UserError, match=r"run.preview=-1: allowed: a number of rows >= 1"):
        render_preview(compose_config(["model=tiny"]), -1)


@pytest.mark.e2e
def test_train_py_previews_and_exits_0_without_weights(tmp_path: Path) -> None:
    result = run_train([*TINY, "run.preview=3"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("\n--- ") == 3 and "[[" in result.stdout
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("*.ckpt"))
    assert not list(tmp_path.rglob("metrics.json"))


@pytest.mark.e2e
def test_a_preview_with_a_dry_run_is_refused(tmp_path: Path) -> None:
    result = run_train([*TINY, "run.preview=2", "run.dry_run=true"], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "run.preview is set with run.dry_run or run.find_lr" in result.stdout
