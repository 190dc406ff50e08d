"""Sweeps on a real SLURM cluster (tests/slurm_kit.py: munged, MariaDB + slurmdbd, slurmctld,
slurmd; one node with four placeholder GPUs): DDP trials through sbatch + srun with their summary
and the losses of one process, a trial cancelled with scancel, a GPU preset submitted from this
GPU-less node failing on the compute side, a USR2 preemption that checkpoints, requeues the job
and finishes with the adapter of an uninterrupted run, and an Optuna study on SLURM that
continues after the sweep command is killed."""

from __future__ import annotations

import csv
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from framework.sweeps.optuna_resume import completed_trials
from tests.helpers import TINY, run_train, start_train, wait_for
from tests.test_hardware import REL_TOL, train_losses

pytestmark = pytest.mark.e2e  # every test here starts a subprocess (and SLURM jobs)

# Small jobs: the fixture's node declares 64 CPUs / 256 GB, the sweep preset asks for 8 / 64 GB.
SLURM = ["-m", "+sweep=slurm", "hydra.sweeper.params=null", "hydra.launcher.cpus_per_task=1"]
SLURM += ["hydra.launcher.mem_gb=2"]


def sweep_dir(out: Path) -> Path:
    (found,) = [p for p in (out / "multirun").iterdir() if p.is_dir()]
    return found


def summary(sweep: Path) -> list[dict[str, str]]:
    with (sweep / "sweep_summary.csv").open() as handle:
        return list(csv.DictReader(handle))


def sbatch_script(sweep: Path) -> str:
    (script,) = sweep.glob(".submitit/*/*_submission.sh")
    return script.read_text()


def slurm_cmd(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def queued_jobs(slurm: dict[str, str]) -> list[str]:
    """squeue's job ids, one per array task."""
    return slurm_cmd(slurm, "squeue", "-h", "-o", "%i").split()


def job_state(slurm: dict[str, str], job: str) -> list[str]:
    """squeue's state and reason of one job, e.g. ["PENDING", "BeginTime"]."""
    return slurm_cmd(slurm, "squeue", "-h", "-j", job, "-o", "%T %r").split()


# The DDP trials and their single-process reference: 2 tasks x 2 rows = 4 rows a step.
DDP = [a for a in TINY if not a.startswith(("trainer.max_steps", "dataset.batch_size"))]
DDP += ["trainer.max_steps=2", "optim.lr=0.01"]


@pytest.fixture(scope="module")
def single_process(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One process, batch 4: the losses every DDP run on SLURM must reproduce."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    args = [*DDP, "dataset.batch_size=4", "method=lora", f"hydra.run.dir={run_dir}"]
    result = run_train(args, run_dir.parent, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def assert_losses_of(run_dir: Path, single_process: Path) -> None:
    """Per-step losses equal to one process's: float summation order only (test_hardware)."""
    expected, got = train_losses(single_process), train_losses(run_dir)
    assert sorted(got) == sorted(expected) == [0, 1]
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, rel=REL_TOL), f"step {step}"


def test_two_trial_ddp_sweep_runs_through_sbatch_and_srun_like_one_process(
    slurm: dict[str, str], single_process: Path, tmp_path: Path
) -> None:
    # hardware=cpu_ddp: two srun tasks per trial; Lightning takes the ranks from SLURM (no
    # re-spawn), DDP over gloo, both ranks in the trial's one run dir. Their per-step losses
    # equal one process's on the same global batch.
    args = [*SLURM, "hardware=cpu_ddp", "method=lora,dora", *DDP, "dataset.batch_size=2"]
    result = run_train(args, tmp_path / "slurm", slurm, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_dir(tmp_path / "slurm")
    rows = summary(sweep)
    methods = {r["trial"]: r["overrides"].split()[2] for r in rows}
    assert sorted(methods.values()) == ["method=dora", "method=lora"]
    assert all(r["status"] == "ok" and float(r["val_loss_after"]) > 0 for r in rows), rows
    script = sbatch_script(sweep)  # a CPU preset with two processes: two tasks, no GPU
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --gpus-per-node=0" in script
    assert "#SBATCH --signal=USR2@120" in script  # submitit's requeue signal
    for trial in ("0", "1"):
        log = (sweep / trial / "train.log").read_text()
        assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == [".submitit", "0", "1"]
    (lora,) = [trial for trial, method in methods.items() if method == "method=lora"]
    assert_losses_of(sweep / lora, single_process)


def test_a_two_node_job_runs_one_rank_on_each_node_like_one_process(
    slurm: dict[str, str], single_process: Path, tmp_path: Path
) -> None:
    # N nodes x G processes: hardware.num_nodes=2, hardware.devices=1 (CPU here, gloo): the
    # sbatch script asks for 2 nodes with one task each; the ranks are SLURM's (node id, proc
    # id), rank 0's node is the address both reach (MASTER_ADDR from SLURM_NODELIST).
    args = [*SLURM, "hardware=cpu_ddp", "hardware.num_nodes=2", "hardware.devices=1"]
    args += ["method=lora", *DDP, "dataset.batch_size=2"]
    result = run_train(args, tmp_path, slurm, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = sweep_dir(tmp_path)
    script = sbatch_script(sweep)
    assert "#SBATCH --nodes=2" in script and "#SBATCH --ntasks-per-node=1" in script
    (row,) = summary(sweep)
    assert row["status"] == "ok", row
    log = (sweep / "0" / "train.log").read_text()
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in log and "GLOBAL_RANK: 1, MEMBER: 2/2" in log
    job = next(p.name for p in (sweep / ".submitit").iterdir()).split("_")[0]
    nodes = slurm_cmd(slurm, "sacct", "-X", "-n", "-P", "-j", job, "-o", "NNodes,NodeList")
    assert nodes.split("|")[0] == "2" and "localhost" in nodes, nodes
    assert_losses_of(sweep / "0", single_process)


def test_gpu_preset_submits_from_a_gpu_less_node_and_fails_on_the_compute_side(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    args = [*SLURM, "hardware=multi_gpu", "hardware.devices=4", "model=tiny"]
    result = run_train(args, tmp_path, slurm, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]  # submitted: no machine check here
    sweep = sweep_dir(tmp_path)
    script = sbatch_script(sweep)
    assert "#SBATCH --ntasks-per-node=4" in script and "#SBATCH --gpus-per-node=4" in script
    (row,) = summary(sweep)
    assert row["status"] == "failed"
    assert "hardware=multi_gpu needs a CUDA GPU and none is visible here" in row["reason"]
    log = "".join(p.read_text() for p in sweep.glob(".submitit/*/*_0_log.out"))
    assert "trial failed: the run cannot start" in log and "needs a CUDA GPU" in log


def test_a_trial_cancelled_with_scancel_is_cancelled_in_the_summary_and_the_sweep_goes_on(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    # Accounting (slurmdbd) lets submitit see the cancelled job end; the sweep command returns.
    args = [*SLURM, "method=lora,dora", *TINY, "trainer.max_steps=2"]
    submitter = start_train(args, tmp_path, slurm, read_stderr=True)
    try:
        jobs = wait_for(lambda: queued_jobs(slurm), submitter, 120, "a queued job", poll=0.1)
        # The array's second task (trial 1, method=dora) is cancelled as soon as it is queued.
        second = jobs[0].split("_")[0] + "_1"
        slurm_cmd(slurm, "scancel", second)
        _, stderr = submitter.communicate(timeout=240)
    finally:
        if submitter.poll() is None:
            submitter.kill()
    assert submitter.returncode == 0, stderr[-3000:]
    rows = {r["trial"]: r for r in summary(sweep_dir(tmp_path))}
    assert rows["0"]["status"] == "ok" and float(rows["0"]["val_loss_after"]) > 0
    assert rows["1"]["status"] == "cancelled" and "method=dora" in rows["1"]["overrides"]
    assert f"SLURM job {second} ended CANCELLED" in rows["1"]["reason"]
    assert rows["1"]["val_loss_after"] == ""


# Checkpoints every 4 steps; the signal comes once step 4 is saved, well before step 16.
RESUMABLE = [a for a in TINY if not a.startswith("trainer.max_steps")]
RESUMABLE += ["trainer.max_steps=16", "run.checkpoint_every_n_steps=4", "method.dropout=0.1"]


def test_usr2_checkpoints_requeues_and_resumes_to_the_uninterrupted_adapter(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    straight = tmp_path / "straight"  # the uninterrupted run, here, alongside the SLURM one
    reference = start_train([*RESUMABLE, f"hydra.run.dir={straight}"], tmp_path, read_stderr=True)
    out = tmp_path / "slurm"
    args = [*SLURM, "method=lora", *RESUMABLE]
    submitter = start_train(args, out, slurm, read_stderr=True)
    try:
        started = time.monotonic()
        checkpoint = "multirun/*/0/checkpoints/step-000004.ckpt"
        wait_for(
            lambda: list(out.glob(checkpoint)), submitter, 180, "step 4's checkpoint", poll=0.1
        )
        (job,) = queued_jobs(slurm)
        slurm_cmd(slurm, "scancel", "--signal=USR2", job)  # what SLURM sends before the limit
        run_dir = sweep_dir(out) / "0"
        # submitit requeues the job; SLURM holds a requeued job ~2 minutes (BeginTime): once
        # it is pending, start it now.
        left = 180 - (time.monotonic() - started)  # one budget for both waits
        pending = ["PENDING", "BeginTime"]
        wait_for(lambda: job_state(slurm, job) == pending, submitter, left, "a requeue", poll=0.2)
        slurm_cmd(slurm, "scontrol", "update", f"jobid={job}", "StartTime=now")
        _, stderr = submitter.communicate(timeout=240)
        _, reference_stderr = reference.communicate(timeout=240)
    finally:
        for process in (submitter, reference):
            if process.poll() is None:
                process.kill()
    assert submitter.returncode == 0, stderr[-3000:]
    assert reference.returncode == 0, reference_stderr[-3000:]
    log = (run_dir / "train.log").read_text()
    assert "preempted by SIGUSR2 after step" in log and "requeueing the SLURM job" in log
    assert "resuming from" in log
    (row,) = summary(run_dir.parent)
    assert row["status"] == "ok"
    a = load_file(str(straight / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for key in a:  # CPU, fixed seed: the requeued run is the same run (tolerance 1e-6)
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6)


def test_optuna_study_on_slurm_continues_after_the_sweep_command_is_killed(
    slurm: dict[str, str], tmp_path: Path
) -> None:
    # The study's SQLite file is on the path the login node shares with the node (here: one
    # machine). Killed once its first trial is told to the study, the same command run again
    # runs only the remaining trial of run.sweep_trials=2.
    args = ["-m", "+sweep=[optuna,on_slurm]", "run.name=study", "run.sweep_trials=2"]
    args += ["hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=2"]
    # optim.lr is searched (TINY's fixed one left out): each trial gets its own dir.
    args += [a for a in TINY if not a.startswith("optim.lr")] + ["trainer.max_steps=2"]
    db = f"sqlite:///{tmp_path}/optuna/study.db"
    first = start_train(args, tmp_path, slurm, read_stderr=True)
    try:
        wait_for(lambda: completed_trials(db, "study") >= 1, first, 240, "a trial", poll=0.5)
    finally:
        first.kill()  # the login node's process dies; the study stays in SQLite
        first.wait()
    # The second trial's job may be running: it is the killed sweep's, never told to the study.
    for job in queued_jobs(slurm):
        slurm_cmd(slurm, "scancel", job)
    again = run_train(args, tmp_path, slurm, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert completed_trials(db, "study") == 2  # 1 before the kill + the 1 remaining
    launched = [line for line in (again.stdout + again.stderr).splitlines() if "\t#" in line]
    assert len(launched) == 1, launched  # the launcher's "#<n> : <overrides>", one trial
    rows = summary(tmp_path / "optuna" / "study")
    assert sum(r["status"] == "ok" for r in rows) == 2, rows
