"""Exact resume beyond one process: kill -9 a two-rank CPU run (DDP, ZeRO-2, ZeRO-3, FSDP2)
after a checkpoint, re-run the same command, and the run ends as an uninterrupted one does."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from framework.training.checkpointing import checkpoint_name, readable
from tests.helpers import TINY, run_train, start_train, train_losses, wait_for
from tests.test_resume_compat import snapshot

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

# Two ranks of 2 rows (a global batch of 4), 10 steps, a checkpoint every 4: the kill lands
# after step 4's checkpoint and before the end; dropout exercises the restored RNG.
ARGS = [
    *[a for a in TINY if not a.startswith(("dataset.batch_size", "trainer.max_steps"))],
    "dataset.batch_size=2",
    "hardware.devices=2",
    "trainer.max_steps=10",
    "run.checkpoint_every_n_steps=4",
    "method.dropout=0.1",
]
TIMEOUT = 900  # DeepSpeed compiles its shm op on first use (cached in .cache/torch_extensions)
# The resumed run repeats the same float operations in the same order on the same ranks
# (gloo's all-reduce order is fixed): bit-for-bit in practice, asserted to 1e-6.
ATOL = 1e-6


def kill_9_after_first_checkpoint(args: list[str], run_dir: Path) -> None:
    """Start the run in its own process group; once step 4's checkpoint is complete on disk,
    SIGKILL every process of the group (both ranks) at once."""
    proc = start_train([*args, f"hydra.run.dir={run_dir}"], run_dir.parent, own_group=True)
    checkpoint = run_dir / "checkpoints" / checkpoint_name(4)
    try:
        wait_for(
            lambda: checkpoint.exists() and readable(checkpoint),
            proc,
            TIMEOUT,
            "a complete step-4 checkpoint",
            poll=0.05,
        )
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert not (run_dir / "metrics.json").exists(), "killed too late: the run had finished"


def assert_one_rank_is_refused(args: list[str], run_dir: Path) -> None:
    """Resuming a two-rank checkpoint with one rank: exit 2 before anything is written."""
    before = snapshot(run_dir)
    one = run_train([*args, "hardware.devices=1", f"hydra.run.dir={run_dir}"], run_dir.parent)
    assert one.returncode == 2, one.stderr[-3000:]
    assert "written by 2 rank(s) (processes) and this run has 1" in one.stderr
    assert "Traceback" not in one.stderr
    assert snapshot(run_dir) == before


def assert_resume_is_exact(preset: str, tmp_path: Path, fewer_ranks: bool = False) -> None:
    args = [*ARGS, f"hardware={preset}"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    result = run_train([*args, f"hydra.run.dir={straight}"], tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    kill_9_after_first_checkpoint(args, killed)
    if fewer_ranks:
        assert_one_rank_is_refused(args, killed)
    again = run_train([*args, f"hydra.run.dir={killed}"], tmp_path, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in (killed / "train.log").read_text()
    a = load_file(str(straight / "adapter/adapter_model.safetensors"))
    b = load_file(str(killed / "adapter/adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=ATOL, msg=key)
    expected = dict(train_losses(straight))
    assert sorted(expected) == list(range(10))
    resumed = train_losses(killed)  # both attempts' rows: every one equals the straight run's
    assert {step for step, _ in resumed} == set(expected)
    for step, loss in resumed:
        assert loss == pytest.approx(expected[step], rel=0, abs=ATOL), f"step {step}"


def test_kill_9_of_two_ddp_ranks_then_resume_matches_uninterrupted(tmp_path: Path) -> None:
    """Also: the same checkpoint resumed with one rank is refused, naming both counts."""
    assert_resume_is_exact("cpu_ddp", tmp_path, fewer_ranks=True)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["zero2", "zero3", "fsdp"])
def test_kill_9_of_two_sharded_ranks_then_resume_matches_uninterrupted(
    preset: str, tmp_path: Path
) -> None:
    assert_resume_is_exact(preset, tmp_path)
