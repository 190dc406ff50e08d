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
    return out + strict_cases()


def strict_cases() -> list[tuple[list[str], str]]:
    """Keys added with +, values that pass a type check but not a run, interpolations,
    deletions, unsafe names and keys that do not apply to the preset."""
    out: list[tuple[list[str], str]] = [
        (["+method.rank=16"], "method.rank: unknown key"),
        (["+optim.warmup=5"], "Did you mean 'warmup_steps'?"),
        (["+no_such_key=1"], "no_such_key: unknown key"),
        (["+model.random_init.depth=3"], "model.random_init.depth: unknown key"),
        (["+hardware.deepspeed.stag=3"], "hardware.deepspeed.stag"),
        (["+dataset.pth=x.jsonl"], "Did you mean 'path'?"),
        (["+run.nme=x"], "run.nme"),
        (["optim.betas=[2.0,3.0]"], "optim.betas"),
        (["optim.betas=[0.9]"], "optim.betas"),
        (["optim.betas=[-0.1,0.9]"], "optim.betas"),
        (["optim.momentum=1.0"], "optim.momentum"),
        (["optim=paged_adamw_8bit"], "optim=paged_adamw_8bit needs a CUDA GPU"),
        (["optim=adamw_8bit", "hardware=zero2"], "optim=adamw_8bit is refused with the deepspeed"),
        (["+dataset.group_by_len=true"], "Did you mean 'group_by_length'?"),
        (["dataset=debian_policy", "dataset.group_by_length=true"], "nothing to group"),
        (["dataset=wordnet_pos", "dataset.packing=true"], "does not apply to task=seq_cls"),
        (["run.seed=99999999999999"], "run.seed"),
        (["run.seed=-1"], "run.seed"),
        (["dataset.shuffle_seed=-5"], "dataset.shuffle_seed"),
        (["dataset.shuffle_seed=99999999999999999999999"], "dataset.shuffle_seed"),
        (["dataset.val_max_rows=-3"], "dataset.val_max_rows"),
        (["dataset.val_max_rows=0"], "dataset.val_max_rows"),
        (["dataset.num_workers=100000"], "dataset.num_workers"),
        (["dataset.limit=99999999999999999999999"], "dataset.limit"),
        (["trainer.max_epochs=-5"], "trainer.max_epochs"),
        (["trainer.max_epochs=0"], "trainer.max_epochs"),
        (["run.sweep_trials=0"], "run.sweep_trials"),
        (["run.sweep_trials=-99999999999999999999999"], "run.sweep_trials"),
        (["model.random_init.num_heads=3"], "does not divide"),
        (["model.random_init.num_kv_heads=3"], "does not divide"),
        (["model.random_init.num_layers=0"], "model.random_init.num_layers"),
        (["model.random_init.hidden_size=-64"], "model.random_init.hidden_size"),
        (["dataset.num_workers=-1"], "dataset.num_workers"),
        (["run.checkpoint_every_n_steps=0"], "run.checkpoint_every_n_steps"),
        (["trainer.log_every_n_steps=0"], "trainer.log_every_n_steps"),
        (["trainer.gradient_clip_val=-1"], "trainer.gradient_clip_val"),
        (["optim.lr=${nope}"], "optim.lr=${nope}: cannot be resolved"),
        (["optim.lr=${optim.lr}"], "optim.lr"),
        (["optim.lr=${optim.eps}", "optim.eps=${optim.lr}"], "cannot be resolved"),
        (["run.name=${oc.env:NO_SUCH_VARIABLE_HT}"], "run.name"),
        (["~model"], "model: no value"),
        (["~dataset"], "dataset"),
        (["~task"], "task"),
        (["run.name=../../../x"], "not a safe folder name"),
        (["run.name=/abs/path"], "not a safe folder name"),
        (["run.name=a/../b"], "not a safe folder name"),
        (["run.name='a\nb'"], "not a safe folder name"),
        (["run.name='has space'"], "not a safe folder name"),
        (["dataset.path=/etc/hosts"], "dataset=jsonl dataset.path=/etc/hosts"),
        (["~trainer.deterministic"], "cannot be deleted"),
        (["~optim.eps"], "cannot be deleted"),
        (["dataset.columns=${dataset.license}"], "which is not a mapping"),
        (["dataset.labels=${dataset.source}"], "which is not a list"),
    ]
    for key in ("optim.lr", "optim.eps", "optim.weight_decay", "dataset.val_fraction"):
        out += [([f"{key}={v}"], key) for v in ("nan", "inf", "-inf")]
    out += [
        ([f"trainer.gradient_clip_val={v}"], "trainer.gradient_clip_val") for v in ("nan", "inf")
    ]
    return out + generated_strict_cases()


def generated_strict_cases() -> list[tuple[list[str], str]]:
    """Per group: an added key, a deleted typed key, an interpolation to nowhere; and names."""
    groups = [*GROUP_SCHEMAS, "method", "task", "model.random_init", "hardware.deepspeed"]
    out = [([f"+{group}.no_such_key=1"], f"{group}.no_such_key: unknown key") for group in groups]
    for group, cls in GROUP_SCHEMAS.items():
        for f in dataclasses.fields(cls)[1:4]:
            out.append(([f"~{group}.{f.name}"], f"{group}.{f.name}"))
        first = dataclasses.fields(cls)[1].name
        out.append(([f"{group}.{first}=${{nowhere.{group}}}"], "cannot be resolved"))
        out.append(([f"{group}.{first}=${{{group}.{first}}}"], f"{group}.{first}"))  # a cycle
    for key in ("dataset.labels", "dataset.categories", "model.target_modules", "optim.betas"):
        out.append(([f"{key}=5"], key))  # a list given a number
    out += [(["dataset.columns=5"], "dataset.columns"), (["hardware.refuses=5"], "hardware")]
    for name in ("..", "a/./b", "semi;colon", "dollar$x", "a//b", "star*", "pipe|x"):
        out.append(([f"run.name='{name}'"], "not a safe folder name"))
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
    "role_number": '{"messages": [{"role": 5, "content": "x"}]}\n',
    "content_number": '{"messages": [{"role": "user", "content": 5}]}\n',
    "content_empty": '{"messages": [{"role": "user", "content": ""}]}\n',
    "messages_empty": '{"messages": []}\n',
    "messages_null": '{"messages": null}\n',
    "prompt_empty": '{"prompt": "", "completion": "b"}\n',
    "prompt_list": '{"prompt": ["a"], "completion": "b"}\n',
    "completion_number": '{"prompt": "a", "completion": 7}\n',
    "completion_null": '{"prompt": "a", "completion": null}\n',
    "only_system": '{"messages": [{"role": "system", "content": "x"}]}\n',
    "null_row": "null\n",
    "number_row": "5\n",
    "string_row": '"x"\n',
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
    "role_number": ":1: messages[0].role=",
    "content_number": ":1: 'messages[0].content' must be a non-empty string",
    "content_empty": ":1: 'messages[0].content' must be a non-empty string",
    "messages_empty": ":1: 'messages' must be a non-empty list",
    "messages_null": ":1: 'messages' must be a non-empty list",
    "prompt_empty": ":1: 'prompt' must be a non-empty string",
    "prompt_list": ":1: 'prompt' must be a non-empty string",
    "completion_number": ":1: 'completion' must be a non-empty string",
    "completion_null": ":1: 'completion' must be a non-empty string",
    "only_system": ":1: the conversation has no assistant message",
    "null_row": ":1: a row must be a JSON object, got NoneType",
    "number_row": ":1: a row must be a JSON object, got int",
    "string_row": ":1: a row must be a JSON object, got str",
}
CASES = cases()
# The whole battery drives the CLI entry ~100 times (~0.3 s of CPU each): `make test` runs it all,
# the unit layer (`make test-fast`) an evenly spread sample of it.
UNIT_SAMPLE = 8
BATTERY = [
    pytest.param(args, fragment, id=" ".join(args), marks=() if i % UNIT_SAMPLE == 0 else E2E)
    for i, (args, fragment) in enumerate(CASES)
]


def test_the_battery_has_at_least_250_cases() -> None:
    from tests.test_hostile_data import NAMES

    assert len(CASES) + len(BAD_ROWS) + len(NAMES) >= 250


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


@pytest.mark.parametrize(
    "flags",
    [["-cd", str(ROOT / "conf")], ["--config-dir", str(ROOT / "conf")], ["--config-name=train"]],
    ids=["-cd", "--config-dir", "--config-name"],
)
def test_hydra_flags_do_not_skip_the_checks(
    flags: list[str],
    existing_run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = [*flags, "model=tiny", "+hydra.callbacks.x._target_=tempfile.mkdtemp"]
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert "is not an allowed _target_" in output
    assert sorted(p.name for p in existing_run_dir.iterdir()) == ["metrics.json"]


def test_a_foreign_primary_config_is_refused_not_skipped(
    tmp_path: Path,
    existing_run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "other.yaml").write_text("a: 1\n")
    args = ["-cd", str(tmp_path), "--config-name", "other"]
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert "cannot be checked" in output


@pytest.mark.parametrize(
    "sweep",
    [
        ["method.r=4,8,16", "optim.lr=1e-3,0.1,nan"],  # the bad value is in the 9th combination
        ["trainer.max_steps=" + ",".join(str(n) for n in range(1, 70)), "optim.eps=1e-8,nan"],
        ["optim.lr=interval(0.001,0.1)", "optim.eps=nan"],  # the sweeper's own search space
    ],
    ids=["last-combination", "beyond-64", "interval"],
)
def test_every_sweep_combination_is_checked(
    sweep: list[str],
    existing_run_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, output = run_cli(["-m", "model=tiny", *sweep], existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert "nan is not a finite number" in output


def test_a_sweep_too_large_to_check_is_refused(
    existing_run_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    values = ",".join(str(n) for n in range(1, 41))
    args = ["-m", f"trainer.max_steps={values}", f"dataset.batch_size={values}"]
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert "1600 combinations" in output
