"""The number of ranks is part of the resume fingerprint: a checkpoint written by another count
is refused with one message naming both counts and what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import DictConfig

from framework.errors import UserError
from framework.training.resume_check import (
    FINGERPRINT_FILE,
    WORLD_SIZE,
    check_resume,
    fingerprint,
    write_fingerprint,
)
from tests.helpers import compose_config


@pytest.fixture(scope="module")
def cfg() -> DictConfig:
    return compose_config(["paths.run_dir=/nowhere"])  # Hydra sets it in a real run


def recorded(tmp_path: Path, now: dict[str, str]) -> Path:
    """A checkpoint beside the fingerprint `now` (the checkpoint's content is not read)."""
    write_fingerprint(tmp_path / "checkpoints", now)
    checkpoint = tmp_path / "checkpoints" / "step-000004.ckpt"
    checkpoint.write_bytes(b"")
    return checkpoint


def test_the_fingerprint_records_the_world_size(cfg: DictConfig) -> None:
    assert json.loads(fingerprint(cfg, 2)[WORLD_SIZE]) == 2
    assert "hardware.devices" not in fingerprint(cfg, 2)  # counted as the world size only


@pytest.mark.parametrize(("old", "new"), [(2, 1), (1, 2), (4, 2)])
def test_another_number_of_ranks_is_refused_naming_both(
    cfg: DictConfig, tmp_path: Path, old: int, new: int
) -> None:
    checkpoint = recorded(tmp_path, fingerprint(cfg, old))
    with pytest.raises(UserError) as refused:
        check_resume(cfg, checkpoint, tmp_path, fingerprint(cfg, new))
    message = str(refused.value)
    assert f"written by {old} rank(s) (processes) and this run has {new}" in message
    assert f"Resume with {old} rank(s)" in message and "run.resume=never" in message
    assert str(checkpoint) in message


def test_the_same_number_of_ranks_resumes(cfg: DictConfig, tmp_path: Path) -> None:
    checkpoint = recorded(tmp_path, fingerprint(cfg, 2))
    check_resume(cfg, checkpoint, tmp_path, fingerprint(cfg, 2))  # no refusal, nothing recorded
    assert not (tmp_path / "resume_history.jsonl").exists()


def test_a_fingerprint_from_before_the_world_size_was_recorded_is_not_compared(
    cfg: DictConfig, tmp_path: Path
) -> None:
    older = {k: v for k, v in fingerprint(cfg, 1).items() if k != WORLD_SIZE}
    checkpoint = recorded(tmp_path, older)
    assert WORLD_SIZE not in json.loads((checkpoint.parent / FINGERPRINT_FILE).read_text())
    check_resume(cfg, checkpoint, tmp_path, fingerprint(cfg, 2))
