"""Model checks before launch, through train.py: each exits 2 before any weight is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.family_kit import smollm2_tokenizer
from tests.helpers import TINY, run_train

pytestmark = pytest.mark.e2e  # train.py in a subprocess

NO_WEIGHTS = "loading weights"  # never reached: the checks run before the job is built


def test_tiny_as_phi3_exits_2_naming_the_gguf_architecture(tmp_path: Path) -> None:
    """Issue 14: model=tiny model.architecture=phi3 exits 2 before loading weights (the tiny
    preset's tokenizer and vocabulary come from a Llama GGUF file)."""
    result = run_train([*TINY, "model.architecture=phi3"], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "model.architecture=phi3 but" in result.stderr
    assert "holds a 'llama' model (general.architecture)" in result.stderr
    assert "set model.architecture=llama" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.safetensors")) and not list(tmp_path.rglob("*.ckpt"))


def test_a_target_module_that_does_not_exist_exits_2(tmp_path: Path) -> None:
    result = run_train([*TINY, "method=lora", "method.target_modules=[qkv]"], tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "'qkv' is not a module of architecture llama" in result.stderr
    assert "Allowed: down_proj" in result.stderr and "q_proj" in result.stderr
    assert not list(tmp_path.rglob("*.safetensors"))


def test_architecture_is_checked_against_config_json(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    smollm2_tokenizer().save_pretrained(str(folder))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    result = run_train(
        [*TINY, f"model.local_path={folder}", "model.architecture=phi3"], tmp_path / "out"
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "model_type='llama'" in result.stderr and "model.architecture=llama" in result.stderr


def test_chat_data_on_a_model_without_a_template_exits_2(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    tok = smollm2_tokenizer()
    tok.save_pretrained(str(folder))
    for name in ("chat_template.jinja", "chat_template.json"):
        (folder / name).unlink(missing_ok=True)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    result = run_train([*TINY, f"model.local_path={folder}", "dataset=chatterbot"], tmp_path / "o")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "has no chat template" in result.stderr and "model.chat_template=" in result.stderr


def test_phi3_small_is_refused_with_the_reason(tmp_path: Path) -> None:
    result = run_train(["model=phi3_small", "run.dry_run=true"], tmp_path)
    assert result.returncode == 2
    assert "trust_remote_code" in result.stderr or "trust_remote_code" in result.stdout
