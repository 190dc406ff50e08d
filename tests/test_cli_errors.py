"""User mistakes exit 2 with one clear message naming the key, and no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import TINY, run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

CASES = [
    (["method=bogus"], ["method=bogus", "Allowed:", "dora", "full", "lora"]),
    (["method=lroa"], ["method=lroa", "Did you mean 'lora'?"]),
    (["optim.lr=abc"], ["optim.lr", "abc", "float"]),
    (["optim.lrr=0.1"], ["optim.lrr", "unknown key", "Did you mean 'lr'?"]),
    (["foo=1"], ["foo", "unknown key", "Allowed:"]),
    (["model=tinyy"], ["model=tinyy", "Did you mean 'tiny'?"]),
    (["method.r=abc"], ["method.r", "abc"]),
    (["trainer.max_steps=0"], ["trainer.max_steps=0", "out of range"]),
    (
        ["optim.name=adam"],
        [
            "optim.name='adam'",
            "Allowed: adamw, adamw_8bit, paged_adamw_8bit, sgd",
            "Did you mean 'adamw'?",
        ],
    ),
    (
        ["dataset=jsonl", "dataset.path=/no/such/file.jsonl"],
        ["dataset.path", "/no/such/file.jsonl"],
    ),
    (["dataset=jsonl"], ["dataset.path is required"]),
    (["logger.backend=wandbb"], ["logger.backend", "Did you mean 'wandb'?"]),
    (["a=b=c"], ["cannot parse the override"]),
    (
        ["run.keep_best=val/bleu"],
        ["run.keep_best='val/bleu'", "Allowed:", "val/loss", "val/perplexity"],
    ),
    (["optim.head_lr_ratio=-1"], ["optim.head_lr_ratio=-1", "greater than 0"]),
]


@pytest.mark.parametrize(("args", "expected"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_user_mistake_exits_2_with_message(
    args: list[str], expected: list[str], tmp_path: Path
) -> None:
    result = run_train(args, tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in expected:
        assert fragment in result.stderr, (fragment, result.stderr)
    assert run_dirs(tmp_path) == [], "a rejected run must not create a run dir"


def test_malformed_jsonl_row_names_file_and_line(tmp_path: Path) -> None:
    data = tmp_path / "chats.jsonl"
    good = '{"prompt": "hi", "completion": "hello"}'
    data.write_text("\n".join([good, good, "{not json", good]) + "\n")
    result = run_train([*TINY, "dataset=jsonl", f"dataset.path={data}"], tmp_path / "out")
    assert result.returncode == 2, result.stderr
    assert f"{data}:3: malformed JSON" in result.stderr
    assert "Traceback" not in result.stderr


def test_jsonl_row_with_wrong_keys_is_named(tmp_path: Path) -> None:
    data = tmp_path / "rows.jsonl"
    data.write_text('{"question": "a", "answer": "b"}\n')
    result = run_train([*TINY, "dataset=jsonl", f"dataset.path={data}"], tmp_path / "out")
    assert result.returncode == 2
    assert f"{data}:1: row has keys ['answer', 'question']" in result.stderr


def test_dry_run_prints_plan_and_loads_nothing(tmp_path: Path) -> None:
    result = run_train(["run.dry_run=true", "method=dora"], tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "# hydratune dry run" in result.stdout
    assert "method: dora" in result.stdout
    assert "problems: none" in result.stdout
