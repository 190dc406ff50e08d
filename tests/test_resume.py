"""Nothing lost: kill -9 then resume matches an uninterrupted run; corrupt checkpoints fall back."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from framework.training.checkpointing import checkpoints_newest_first, newest_readable
from framework.training.preemption import PREEMPTED_EXIT_CODE
from tests.helpers import ROOT, TINY, interrupt_at_checkpoint, run_train, train_losses

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

# 40 steps over ~3 epochs of 14 batches: checkpoints land mid-epoch; dropout exercises the RNG.
RESUMABLE = [
    *[a for a in TINY if not a.startswith("trainer.max_steps")],
    "trainer.max_steps=40",
    "run.checkpoint_every_n_steps=4",
    "method.dropout=0.1",
]


def adapter(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run of RESUMABLE: the reference for every interrupted one."""
    out = tmp_path_factory.mktemp("straight")
    result = run_train([*RESUMABLE, f"hydra.run.dir={out / 'run'}"], out)
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "run"


def interrupt_after_first_checkpoint(
    run_dir: Path, signum: int, run_args: list[str] = RESUMABLE
) -> int:
    """Start `run_args` in run_dir, send `signum` once step 4 is checkpointed; return the exit
    code."""
    return interrupt_at_checkpoint(run_args, run_dir, 4, signum, timeout=240)


def resume_and_compare(run_dir: Path, straight: Path) -> None:
    """Re-run the same command in the same run dir; the adapter must match `straight`."""
    again = run_train([*RESUMABLE, f"hydra.run.dir={run_dir}"], run_dir.parent)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming from" in (run_dir / "train.log").read_text()
    a, b = adapter(straight), adapter(run_dir)
    assert a.keys() == b.keys()
    for key in a:  # CPU, fixed seed: the resumed run is bit-for-bit the same (tolerance 1e-6)
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)
    final = [
        json.loads((d / "metrics.json").read_text())["val_loss_after"] for d in (straight, run_dir)
    ]
    assert final[0] == pytest.approx(final[1], abs=1e-6)
    # Every step's train/loss row once, under its own step number, across both attempts.
    steps = [[step for step, _ in train_losses(d)] for d in (run_dir, straight)]
    assert steps[0] == steps[1] == list(range(40))


def test_kill_9_between_checkpoints_then_resume_matches_uninterrupted(
    straight: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "killed"
    assert interrupt_after_first_checkpoint(run_dir, signal.SIGKILL) == -signal.SIGKILL
    kept = checkpoints_newest_first(run_dir / "checkpoints")
    assert kept and all(int(p.stem.split("-")[1]) < 40 for p in kept)
    resume_and_compare(run_dir, straight)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_preemption_signal_checkpoints_exits_cleanly_and_resumes_to_same_loss(
    signum: int, straight: Path, tmp_path: Path
) -> None:
    run_dir = tmp_path / "preempted"
    assert interrupt_after_first_checkpoint(run_dir, signum) == PREEMPTED_EXIT_CODE
    log = (run_dir / "train.log").read_text()
    assert f"preempted by {signal.Signals(signum).name} after step" in log
    newest = checkpoints_newest_first(run_dir / "checkpoints")[0]
    assert int(newest.stem.split("-")[1]) >= 4  # the preemption checkpoint (or a later one)
    resume_and_compare(run_dir, straight)


def test_corrupt_latest_checkpoint_falls_back_to_previous(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run_dir = tmp_path / "run"
    args = [*TINY, "trainer.max_steps=6", "run.checkpoint_every_n_steps=2"]
    assert run_train([*args, f"hydra.run.dir={run_dir}"], tmp_path).returncode == 0
    newest, previous = checkpoints_newest_first(run_dir / "checkpoints")
    assert (newest.name, previous.name) == ("step-000006.ckpt", "step-000004.ckpt")
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated, as by a crash mid-copy
    with caplog.at_level(logging.WARNING):
        assert newest_readable(run_dir / "checkpoints") == previous
    assert str(newest) in caplog.text and str(previous) in caplog.text


def test_non_finite_loss_stops_naming_step_and_checkpoint(tmp_path: Path) -> None:
    # Full fine-tuning with SGD at lr=10 and no clipping diverges within a few steps.
    args = [*TINY, "method=full", "optim=sgd", "optim.lr=10", "trainer.gradient_clip_val=null"]
    args += ["trainer.max_steps=30", "run.checkpoint_every_n_steps=1"]
    result = run_train(args, tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "the loss became" in result.stderr and "at step" in result.stderr
    assert "Last good checkpoint:" in result.stderr
    assert "Traceback" not in result.stderr


FULL_DISK = """
import resource, signal, sys, torch
from pathlib import Path
from framework.errors import RunAborted
from framework.training.checkpointing import AtomicCheckpointIO
folder = Path(sys.argv[1])
io = AtomicCheckpointIO()
io.save_checkpoint({"state_dict": {"w": torch.zeros(10)}}, folder / "step-000001.ckpt")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))  # the disk is now "full"
try:
    io.save_checkpoint({"state_dict": {"w": torch.zeros(1_000_000)}}, folder / "step-000002.ckpt")
except RunAborted as error:
    print(error)
"""


def test_full_disk_on_save_keeps_previous_checkpoint(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "could not write checkpoint" in result.stdout
    assert f"the previous checkpoint {tmp_path / 'step-000001.ckpt'} is kept" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000001.ckpt"]
    assert torch.load(tmp_path / "step-000001.ckpt", weights_only=True)["state_dict"][
        "w"
    ].shape == (10,)
