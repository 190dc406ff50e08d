"""hydra-submitit-launcher's SLURM launcher, where a trial whose job ends without a result
(cancelled with scancel, killed, timed out past its requeues) is recorded, not fatal.

The plugin's own launcher waits for every job's result and raises on the first job that has
none, which ends the whole sweep (no summary). Here such a trial gets a `CANCELLED` or `FAILED`
file in its run dir (framework/launchers/slurm_outcome.py), returns NaN like a trial that
failed on bad input, and the sweep goes on. sweeps/sweep/slurm.yaml points
hydra.launcher._target_ here; the launcher's settings are the plugin's (submitit_slurm).
"""

# No `from __future__ import annotations`: Hydra execs plugin modules outside sys.modules.
import logging
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    SlurmLauncher as SubmititSlurmLauncher,
)
from omegaconf import OmegaConf, open_dict

log = logging.getLogger(__name__)
INIT_KEYS = ("max_num_timeout",)  # given to the executor itself, the rest are job parameters
# The longest wait between two sacct calls while a trial's job runs: submitit's own interval
# grows with the sweep's age (up to 10 minutes), which delays noticing a cancelled job.
SACCT_POLL_S = 30.0


def wait_for(job: Any) -> str | None:
    """Wait until the job ended (its result written, or SLURM's accounting says so). Returns
    why SLURM no longer knows the job when it has vanished: an array task cancelled while
    still pending leaves no accounting record (SLURM 22.05), and submitit would wait forever."""
    last = time.monotonic()
    while not job.done():  # the result file each second, sacct on submitit's schedule
        if time.monotonic() - last >= SACCT_POLL_S:
            if job.done(force_check=True):
                return None
            if str(job.state) == "UNKNOWN" and not _queued(str(job.job_id)):
                return "CANCELLED while pending (no accounting record, not in the queue)"
            last = time.monotonic()
        time.sleep(1)
    return None


def _queued(job_id: str) -> bool:
    """Whether squeue still lists the job (pending, running, or requeued)."""
    listed = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True)
    return listed.returncode == 0 and bool(listed.stdout.strip())


class SlurmLauncher(SubmititSlurmLauncher):
    """One sbatch array per batch of trials; a job without a result becomes a recorded trial."""

    def _executor(self) -> Any:
        import submitit

        params = dict(self.params)
        init = {f"slurm_{k}": params.pop(k) for k in INIT_KEYS if k in params}
        executor = submitit.AutoExecutor(
            cluster="slurm", folder=params.pop("submitit_folder"), **init
        )
        queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in queue_keys else f"slurm_{k}": v for k, v in params.items()}
        )
        return executor

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        if self.config is None or not job_overrides:
            raise ValueError("the SLURM launcher got no config or no trials to launch")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if self.config.hydra.sweep.get("mode") is not None:
            sweep_dir.chmod(int(str(self.config.hydra.sweep.mode), 8))
        log.info(f"Submitit 'slurm' sweep output dir : {sweep_dir}")
        params = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            state = Singleton.get_state()
            params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", state))
        jobs = self._executor().map_array(self, *zip(*params, strict=True))
        return [
            self._result(job, list(overrides), idx)
            for idx, (job, overrides) in enumerate(
                zip(jobs, job_overrides, strict=True), start=initial_job_idx
            )
        ]

    def _result(self, job: Any, overrides: list[str], idx: int) -> JobReturn:
        """The job's JobReturn; for a job that ended without one, the recorded trial's."""
        from submitit.core.utils import UncompletedJobError

        from framework.launchers.slurm_outcome import record_unfinished

        vanished = wait_for(job)
        if vanished is None:
            try:
                return job.results()[0]
            except UncompletedJobError:
                pass
        if self.hydra_context is None or self.config is None:
            raise ValueError("the SLURM launcher was not set up")
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg.hydra.job):
            cfg.hydra.job.num = idx
            cfg.hydra.job.id = str(job.job_id)
        trial = Path(str(cfg.hydra.sweep.dir)) / str(cfg.hydra.sweep.subdir)
        state = vanished or str(job.state)
        log_file = str(job.paths.stdout)
        status = record_unfinished(
            trial, list(cfg.hydra.overrides.task), str(job.job_id), state, log_file
        )
        log.error("trial #%d (SLURM job %s) %s: %s", idx, job.job_id, status, trial)
        return JobReturn(
            overrides=overrides,
            working_dir=str(trial),
            task_name=str(cfg.hydra.job.name),
            status=JobStatus.COMPLETED,
            _return_value=float("nan"),  # what a trial failing on bad input returns
        )
