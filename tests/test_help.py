"""`--help` of train.py, evaluate.py, generate.py and export.py: what the tool does, common
commands, each config group with its description and presets, and no torch import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from framework.cli.help import group_descriptions, tool_help
from framework.cli.main import run
from tests.helpers import CONF, ROOT


def train_help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(sys, "argv", ["train.py", "--help"])
    try:
        run(ROOT, lambda cfg: pytest.fail("--help must not run the task"))
    except SystemExit as done:
        assert not done.code
    return capsys.readouterr().out


def test_train_help_says_what_it_does_then_commands_then_every_group(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = train_help(capsys, monkeypatch)
    assert text.startswith("train.py: fine-tune a language model")
    assert "powered by Hydra" not in text
    assert text.index("Common commands:") < text.index("Config groups")
    for command in ("python train.py run.dry_run=true", "python train.py -m +sweep=grid"):
        assert command in text
    for group, description in group_descriptions().items():
        assert f"  {group:<10}{description}" in text
    assert "smollm2_135m" in text and "zero3_offload" in text  # presets from conf/
    assert "loraplus" in text  # a method from plugins/
    assert "grid_parallel" in text  # a sweep from sweeps/ (hydra.searchpath)


def test_every_group_has_a_one_line_description() -> None:
    descriptions = group_descriptions()
    assert {"model", "method", "hardware", "dataset", "task", "sweep"} <= set(descriptions)
    assert all(line and "\n" not in line for line in descriptions.values()), descriptions


@pytest.mark.parametrize("tool", ["evaluate", "generate", "export"])
def test_tool_help_says_what_it_does_then_commands_then_keys(tool: str) -> None:
    text = tool_help(CONF, tool)
    assert text.startswith(f"{tool}.py: ")
    assert f"python {tool}.py run_dir=<run dir>" in text
    assert text.index("Common commands:") < text.index(f"Keys (key=value), from conf/{tool}.yaml:")
    assert "run_dir: ???" in text and "defaults:" not in text and "$CONFIG" not in text


@pytest.mark.e2e
@pytest.mark.parametrize("script", ["train.py", "evaluate.py", "generate.py", "export.py"])
def test_help_is_fast_and_imports_no_torch(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / script), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith(f"{script}: ")
    assert "| torch\n" not in done.stderr
