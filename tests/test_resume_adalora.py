"""AdaLoRA resumes exactly: its rank allocator's importance scores and its rank pattern are in
every checkpoint, so a resumed run prunes the same ranks as an uninterrupted one."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from framework.training.checkpointing import checkpoint_name
from tests.helpers import TINY, run_train
from tests.test_resume import interrupt_after_first_checkpoint

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # subprocesses; not yet shown passing in CI time

# 20 steps: importance is gathered from step 1, ranks are pruned from step 3 (tinit 2) and
# fixed at step 16 (tfinal 4): the rank pattern is final then and masks every later step.
ADALORA = [
    *[a for a in TINY if not a.startswith("trainer.max_steps")],
    "method=adalora",
    "method.init_r=6",
    "method.target_r=2",
    "trainer.max_steps=20",
    "run.checkpoint_every_n_steps=4",
]
TIMEOUT = 600


def adapter(run_dir: Path) -> tuple[dict[str, torch.Tensor], object]:
    """The saved adapter's tensors and the rank pattern in its config."""
    folder = run_dir / "adapter"
    config = json.loads((folder / "adapter_config.json").read_text())
    return load_file(str(folder / "adapter_model.safetensors")), config["rank_pattern"]


def assert_same_adapter(run_dir: Path, straight: Path) -> None:
    (a, pattern_a), (b, pattern_b) = adapter(straight), adapter(run_dir)
    assert pattern_a and pattern_b == pattern_a  # the same ranks pruned
    assert any(not all(kept) for kept in pattern_a.values())  # and some were pruned
    assert a.keys() == b.keys()
    for key in a:  # CPU, fixed seed: bit-for-bit in practice
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("adalora")
    result = run_train([*ADALORA, f"hydra.run.dir={out / 'run'}"], out, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    return out / "run"


def test_adalora_checkpoint_holds_the_allocator_state(straight: Path) -> None:
    state = torch.load(
        straight / "checkpoints" / checkpoint_name(16), map_location="cpu", weights_only=True
    )["method_state"]
    assert set(state) == {"ipt", "exp_avg_ipt", "exp_avg_unc", "rank_pattern"}
    pattern = state["rank_pattern"]
    assert pattern and all(isinstance(kept, list) for kept in pattern.values())
    # saved after step 16's allocation: the pattern fixed, the scores reset (not needed after)
    assert state["exp_avg_ipt"] == {}


def test_adalora_resumed_in_its_final_phase_keeps_the_rank_pattern(
    straight: Path, tmp_path: Path
) -> None:
    """From step 16 (the pattern fixed): the resumed steps mask the same ranks."""
    checkpoint = straight / "checkpoints" / checkpoint_name(16)
    run_dir = tmp_path / "resumed"
    args = [*ADALORA, f"run.resume={checkpoint}", f"hydra.run.dir={run_dir}"]
    result = run_train(args, tmp_path, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_adapter(run_dir, straight)


def test_adalora_killed_while_pruning_then_resumed_matches_uninterrupted(
    straight: Path, tmp_path: Path
) -> None:
    """Killed after step 4 (while pruning): the resumed run's moving averages of importance go
    on from the checkpoint's, so every later pruning is the same."""
    run_dir = tmp_path / "killed"
    code = interrupt_after_first_checkpoint(run_dir, signal.SIGKILL, ADALORA)
    assert code == -signal.SIGKILL
    again = run_train([*ADALORA, f"hydra.run.dir={run_dir}"], tmp_path, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in (run_dir / "train.log").read_text()
    assert_same_adapter(run_dir, straight)
