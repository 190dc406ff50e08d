"""Two CPU processes (DDP, DeepSpeed ZeRO 1/2/3 with offload, FSDP2) train like one process on
the same global batch, in one run dir written by rank 0; dry runs plan without loading."""

from __future__ import annotations

import csv
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT, TINY, run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

# TINY with the batch and the learning rate left to each test.
BASE = [a for a in TINY if not a.startswith(("dataset.batch_size", "optim.lr"))]
SINGLE = [*BASE, "dataset.batch_size=4", "optim.lr=0.01", "hardware=cpu"]
TWO_RANKS = [*BASE, "dataset.batch_size=2", "hardware.devices=2"]  # 2 x 2 rows = 4 rows a step
# The per-step train loss is the token mean over the global batch (module.training_step),
# and each rank's gradient is scaled so the averaged gradient is the single-process one:
# the runs are the same computation. What differs is float summation order (all-reduce,
# DeepSpeed's flattened fp32 partitions, FSDP's reduce-scatter): measured differences are
# <= 2e-6 on losses around 10.7, so 1e-4 relative is tight but not flaky.
REL_TOL = 1e-4
# DeepSpeed compiles C++ ops on first use (shm_comm ~1-2 min; cpu_adam for offload ~4 min
# on 2 cores), cached in .cache/torch_extensions: the first run of a fresh checkout is slow.
DEEPSPEED_TIMEOUT = 1200


def train_losses(run_dir: Path) -> dict[int, float]:
    """Per-step train/loss from logs/metrics.csv."""
    with (run_dir / "logs/metrics.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["train/loss"]]
    return {int(r["step"]): float(r["train/loss"]) for r in rows}


def metrics(run_dir: Path) -> dict[str, float]:
    return json.loads((run_dir / "metrics.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One process, batch 4: what every two-rank run must reproduce."""
    out = tmp_path_factory.mktemp("single")
    result = run_train(SINGLE, out)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(out)
    return run_dir


def config_fingerprints(run_dir: Path) -> dict[str, str]:
    """rank -> the config sha256 each rank logged into its own log file in the run dir."""
    found = {}
    for log in run_dir.glob("*.log"):
        for line in log.read_text().splitlines():
            if " config sha256 " in line:
                rank, digest = line.split(" rank ")[1].split(" config sha256 ")
                found[rank] = digest.split()[0]
    return found


def assert_one_run_like_the_reference(
    out: Path, reference: Path, same_storage: bool = True
) -> Path:
    (run_dir,) = run_dirs(out)  # one run dir for both ranks
    assert [p.parent for p in out.rglob("metrics.json")] == [run_dir]  # written once
    fingerprints = config_fingerprints(run_dir)
    assert set(fingerprints) == {"0", "1"} and len(set(fingerprints.values())) == 1
    # Rank 0 wrote every artifact; rank 1 only its own log file.
    names = {p.name for p in run_dir.iterdir()}
    assert names == {p.name for p in reference.iterdir()} | {"train_ddp_process_1.log"}
    expected, got = train_losses(reference), train_losses(run_dir)
    assert sorted(got) == sorted(expected) == [0, 1, 2, 3]
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=REL_TOL), f"step {step}"
    ran, ref = metrics(run_dir), metrics(reference)
    assert ran["val_loss_after"] == pytest.approx(ref["val_loss_after"], rel=REL_TOL)
    assert ran["trainable_parameters"] == ref["trainable_parameters"]
    if same_storage:  # 4-bit weights packed in float32 (ZeRO-3) count fewer elements
        assert ran["total_parameters"] == ref["total_parameters"]
    assert ran["reload_max_logit_diff"] == 0.0  # the saved adapter reloads exactly
    return run_dir


@pytest.mark.parametrize(
    "preset", ["zero1", "zero2", "zero2_offload", "zero3", "zero3_offload", "fsdp"]
)
def test_two_ranks_train_like_one_process(preset: str, reference: Path, tmp_path: Path) -> None:
    args = [*TWO_RANKS, "optim.lr=0.01", f"hardware={preset}"]
    result = run_train(args, tmp_path, timeout=DEEPSPEED_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = assert_one_run_like_the_reference(tmp_path, reference)
    checkpoint = run_dir / "checkpoints/step-000004.ckpt"
    # DeepSpeed saves a folder of per-rank shards; FSDP gathers one file on rank 0.
    assert checkpoint.is_dir() if preset.startswith("zero") else checkpoint.is_file()


@pytest.mark.slow
def test_qlora_under_zero3_trains_like_one_process(tmp_path: Path) -> None:
    """ZeRO-3 shards the 4-bit base (stored in the compute dtype there) and gathers the adapter
    to rank 0 for saving. Slow: it needs its own single-process QLoRA reference."""
    single, sharded = tmp_path / "single", tmp_path / "zero3"
    result = run_train([*SINGLE, "method=qlora"], single)
    assert result.returncode == 0, result.stderr[-3000:]
    args = [*TWO_RANKS, "optim.lr=0.01", "method=qlora", "hardware=zero3"]
    result = run_train(args, sharded, timeout=DEEPSPEED_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    (reference,) = run_dirs(single)
    assert_one_run_like_the_reference(sharded, reference, same_storage=False)


def test_ddp_sweep_gives_each_trial_one_dir_and_its_own_config(
    reference: Path, tmp_path: Path
) -> None:
    """Under multirun, the rank Lightning re-executes joins its trial, not the whole sweep."""
    args = ["-m", *TWO_RANKS, "hardware=cpu_ddp", "optim.lr=0.01,0.02"]
    result = run_train(args, tmp_path, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = sorted(p for p in (tmp_path / "multirun").glob("*/*") if p.is_dir())
    assert [t.name for t in trials] == ["0", "1"]
    digests = [set(config_fingerprints(t).values()) for t in trials]
    assert all(len(d) == 1 for d in digests) and digests[0] != digests[1]
    assert_one_run_like_the_reference(trials[0], reference)  # optim.lr=0.01 is the reference
    assert {"0", "1"} == set(config_fingerprints(trials[1]))


def run_cli(args: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """Run train.py; also return its wall-clock and CPU seconds."""
    started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return result, time.perf_counter() - started, used


def test_dry_run_prints_the_strategy_and_a_memory_estimate_quickly(tmp_path: Path) -> None:
    result, wall, cpu = run_cli(
        ["hardware=zero3", "method=lora", "run.dry_run=true", f"paths.output_dir={tmp_path}"]
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # ~1.1 s on an idle 2-core machine. CPU time is the load-independent bound; wall time gets
    # slack for a machine busy with other jobs.
    assert cpu < 5.0 and wall < 10.0
    out = result.stdout
    assert "CPUCapableDeepSpeedStrategy(config=<deepspeed config below>" in out
    # The exact DeepSpeed config dict the strategy receives, as JSON.
    shown = out[out.index("deepspeed config (json") :].split("\n", 1)[1]
    config = json.JSONDecoder().raw_decode(shown)[0]
    assert (
        config["zero_optimization"]["stage"] == 3
        and "offload_param" not in config["zero_optimization"]
    )
    assert "memory estimate per device (CPU process): peak ~" in out
    for part in ("weights", "gradients", "optimizer states", "activations (train step)"):
        assert f"  {part}: " in out
    assert "134.5M parameters" in out and "problems: none" in out


def test_dry_run_reports_qlora_with_fsdp_and_exits_2(tmp_path: Path) -> None:
    result, _, _ = run_cli(
        ["method=qlora", "hardware=fsdp", "run.dry_run=true", f"paths.output_dir={tmp_path}"]
    )
    assert result.returncode == 2
    assert "# what the run would do" in result.stdout and "problems: 1" in result.stdout
    assert "method=qlora cannot run with hardware.strategy=fsdp" in result.stdout
    assert "the dry run found 1 problem(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_real_run_with_a_problem_exits_2_before_any_run_dir(tmp_path: Path) -> None:
    result, _, _ = run_cli(["method=qlora", "hardware=fsdp", f"paths.output_dir={tmp_path}"])
    assert result.returncode == 2
    assert "method=qlora cannot run with hardware.strategy=fsdp" in result.stderr
    assert not list(tmp_path.iterdir())


def test_dry_run_imports_no_torch(tmp_path: Path) -> None:
    argv = [
        "train.py",
        "hardware=zero3_offload",
        "run.dry_run=true",
        f"paths.output_dir={tmp_path}",
    ]
    code = (
        f"import sys; from framework.cli.main import run; sys.argv = {argv!r}; "
        "import atexit; atexit.register(lambda: print('torch loaded:', 'torch' in sys.modules)); "
        "from pathlib import Path; import train; run(Path('.').resolve(), train.task)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch loaded: False" in result.stdout
