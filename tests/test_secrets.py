"""Secrets in the environment never reach the run dir; remote code stays off by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.config.schema import ModelConfig
from tests.helpers import TINY, run_dirs, run_train

SECRETS = {
    "HF_TOKEN": "hf_TopSecretValue0123456789",
    "WANDB_API_KEY": "wandbkey_0123456789abcdef0123456789abcdef",
    "MY_SERVICE_PASSWORD": "pa55w0rd-very-secret",
}


@pytest.mark.e2e
def test_environment_secrets_appear_nowhere_in_the_run_dir(tmp_path: Path) -> None:
    env = {**SECRETS, "WANDB_MODE": "offline"}
    result = run_train([*TINY, "logger=wandb"], tmp_path, extra_env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    (run_dir,) = run_dirs(tmp_path)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".wandb" for p in files), "the wandb logger wrote nothing"
    for path in files:
        data = path.read_bytes()
        for name, value in SECRETS.items():
            assert value.encode() not in data, f"{name} leaked into {path}"
    for value in SECRETS.values():
        assert value not in result.stdout + result.stderr


def test_trust_remote_code_is_off_unless_a_preset_sets_it() -> None:
    assert ModelConfig.trust_remote_code is False
    presets = Path(__file__).resolve().parent.parent / "conf" / "model"
    for preset in presets.glob("*.yaml"):
        assert "trust_remote_code: true" not in preset.read_text(), preset


def test_redact_replaces_secret_looking_environment_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from framework.training.artifacts import redact

    monkeypatch.setenv("HF_TOKEN", "hf_abcdefghijklmnop")
    monkeypatch.setenv("HOME_DIR_NAME", "not-a-secret-value")
    text = "token=hf_abcdefghijklmnop home=not-a-secret-value"
    assert redact(text) == "token=<redacted:HF_TOKEN> home=not-a-secret-value"
