"""A battery of 100+ bad overrides, configs and data files: each exits 2 naming the key or file."""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

import pytest

from framework.cli.main import run
from framework.config import schema
from tests.helpers import ROOT

GROUP_SCHEMAS = {
    "model": schema.ModelConfig,
    "hardware": schema.HardwareConfig,
    "dataset": schema.DatasetConfig,
    "trainer": schema.TrainerConfig,
    "optim": schema.OptimConfig,
    "logger": schema.LoggerConfig,
    "run": schema.RunConfig,
}
E2E = pytest.mark.e2e
PRESETS = {"model": "tiny", "hardware": "cpu", "dataset": "chatterbot", "optim": "adamw"}


def typed_fields(kind: type) -> list[tuple[str, str]]:
    """(group, field) for every schema field whose type is `kind` (or optional `kind`)."""
    found = []
    for group, cls in GROUP_SCHEMAS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if kind in (hints[f.name], *typing.get_args(hints[f.name])):
                found.append((group, f.name))
    return found


def cases() -> list[tuple[list[str], str]]:
    """(overrides, a fragment the message must contain)."""
    out: list[tuple[list[str], str]] = []
    for group, preset in PRESETS.items():
        out.append(([f"{group}=no_such_{group}"], f"{group}=no_such_{group}"))
        out.append(([f"{group}={preset[:-1]}x"], "Did you mean"))
    out.append((["method=no_such_method"], "method=no_such_method"))
    out.append((["method=lorra"], "Did you mean 'lora'?"))
    for group, cls in GROUP_SCHEMAS.items():
        name = dataclasses.fields(cls)[0].name
        out.append(([f"{group}.{name}_typo=1"], f"{group}.{name}_typo"))
    for key in ("r", "alpha", "dropout", "target_modules"):
        out.append(([f"method.{key}s=1"], f"method.{key}s"))
    out += [([f"{g}.{k}=abc"], f"{g}.{k}") for g, k in typed_fields(int) if k != "devices"]
    out += [([f"{g}.{k}=abc"], f"{g}.{k}") for g, k in typed_fields(float)]
    out += [([f"{g}.{k}=maybe"], f"{g}.{k}") for g, k in typed_fields(bool)]
    out += [(["method.r=abc"], "method.r"), (["method.dropout=abc"], "method.dropout")]
    ranges = {
        "optim.lr": ["0", "-1", "11"],
        "optim.weight_decay": ["-0.1"],
        "optim.warmup_steps": ["-1"],
        "trainer.max_steps": ["0", "-5"],
        "trainer.accumulate_grad_batches": ["0"],
        "dataset.max_length": ["4", "0"],
        "dataset.batch_size": ["0"],
        "dataset.eval_batch_size": ["-1"],
        "dataset.val_fraction": ["0", "0.95"],
        "dataset.limit": ["1"],
        "hardware.num_nodes": ["0"],
        "method.r": ["0", "-4"],
        "method.alpha": ["0"],
        "method.dropout": ["1.5", "-0.1"],
    }
    out += [([f"{k}={v}"], k) for k, values in ranges.items() for v in values]
    choices = {
        "optim.name": "adam",
        "optim.scheduler": "cosin",
        "logger.backend": "mlflow",
        "logger.wandb_mode": "offlin",
        "dataset.source": "s3",
        "dataset.format": "xml",
        "task.name": "summarize",
        "hardware.accelerator": "tpu",
        "model.architecture": "gpt2",
        "model.dtype": "fp8",
        "method.bias": "some",
    }
    out += [([f"{k}={v}"], k) for k, v in choices.items()]
    out += [
        (["dataset.categories=[greetingz]"], "dataset.categories"),
        (["run.resume=/no/such/checkpoint.ckpt"], "run.resume"),
        (["dataset=jsonl"], "dataset.path"),
        (["dataset=jsonl", "dataset.path=/no/such/file.jsonl"], "dataset.path"),
        (["model.local_path=/no/such/model"], "model.local_path"),
        (["model.gguf_file=missing.gguf"], "model.gguf_file"),
        (["a=b=c"], "cannot parse"),
        (["method.r=[1,2"], "cannot parse"),
        (["+method=lora"], "method"),
    ]
    return out


BAD_ROWS = {
    "empty": "",
    "malformed": '{"prompt": "a", "completion": "b"}\n{"prompt": "a", \n',
    "not_object": '["prompt", "completion"]\n',
    "wrong_keys": '{"question": "a", "answer": "b"}\n',
    "empty_completion": '{"prompt": "a", "completion": ""}\n',
    "messages_not_list": '{"messages": "hello"}\n',
    "bad_role": '{"messages": [{"role": "robot", "content": "x"}]}\n',
    "no_assistant": '{"messages": [{"role": "user", "content": "x"}]}\n',
    "message_not_object": '{"messages": ["hi"]}\n',
    "number_prompt": '{"prompt": 5, "completion": "b"}\n',
}
EXPECTED_ROW_FRAGMENT = {
    "empty": "has no rows",
    "malformed": ":2: malformed JSON",
    "not_object": ":1: a row must be a JSON object",
    "wrong_keys": ":1: row has keys",
    "empty_completion": ":1: 'completion' must be a non-empty string",
    "messages_not_list": ":1: 'messages' must be a non-empty list",
    "bad_role": ":1: messages[0].role='robot' is not allowed",
    "no_assistant": ":1: the conversation has no assistant message",
    "message_not_object": ":1: messages[0] must be an object",
    "number_prompt": ":1: 'prompt' must be a non-empty string",
}
CASES = cases()
# The whole battery drives the CLI entry ~100 times (~0.3 s of CPU each): `make test` runs it all,
# the unit layer (`make test-fast`) an evenly spread sample of it.
UNIT_SAMPLE = 8
BATTERY = [
    pytest.param(args, fragment, id=" ".join(args), marks=() if i % UNIT_SAMPLE == 0 else E2E)
    for i, (args, fragment) in enumerate(CASES)
]


def test_the_battery_has_at_least_100_cases() -> None:
    assert len(CASES) + len(BAD_ROWS) >= 100


@pytest.fixture
def existing_run_dir(tmp_path: Path) -> Path:
    run_dir = tmp_path / "existing-run"
    run_dir.mkdir()
    (run_dir / "metrics.json").write_text('{"val_loss_after": 1.0}\n')
    return run_dir


def run_cli(
    args: list[str],
    run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str]:
    """The real CLI entry in-process (it exits before Hydra runs for these inputs)."""
    monkeypatch.setattr(sys, "argv", ["train.py", *args, f"hydra.run.dir={run_dir}"])
    with pytest.raises(SystemExit) as exit_info:
        run(ROOT, lambda cfg: pytest.fail("the task must not start"))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.err + captured.out


@pytest.mark.parametrize(("args", "fragment"), BATTERY)
def test_bad_override_exits_2_naming_the_key(
    args: list[str],
    fragment: str,
    existing_run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, output = run_cli(["model=tiny", *args], existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert output.startswith("error: ")
    assert fragment in output, output
    assert "Traceback" not in output
    assert sorted(p.name for p in existing_run_dir.iterdir()) == ["metrics.json"]


@pytest.mark.parametrize("name", sorted(BAD_ROWS))
def test_bad_data_file_exits_2_naming_file_and_line(
    name: str,
    tmp_path: Path,
    existing_run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / f"{name}.jsonl"
    data.write_text(BAD_ROWS[name])
    args = ["model=tiny", "dataset=jsonl", f"dataset.path={data}"]
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert EXPECTED_ROW_FRAGMENT[name] in output, output
    if name != "empty":
        assert str(data) in output
    assert "Traceback" not in output
    assert sorted(p.name for p in existing_run_dir.iterdir()) == ["metrics.json"]
