"""One run, one run dir: the processes Lightning starts for ranks > 0 join rank 0's run dir."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

RUN_DIR_ENV = "HYDRATUNE_RUN_DIR"  # read by conf/hydra/default.yaml (hydra.run.dir)
LAUNCHED_RANK_ENV = "LOCAL_RANK"  # set by Lightning (and torchrun/SLURM) in launched ranks
# What Lightning and DeepSpeed export into rank 0's own environment while launching.
DISTRIBUTED_ENV = (
    RUN_DIR_ENV,
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "RANK",
    "WORLD_SIZE",
    "LOCAL_WORLD_SIZE",
    "CROSS_RANK",
    "CROSS_SIZE",
)


def launched_by_a_launcher() -> bool:
    """True in a process started by Lightning's launcher or torchrun (not the user's command)."""
    return LAUNCHED_RANK_ENV in os.environ


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _job_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    return list(HydraConfig.get().overrides.task)


@contextmanager
def ranks_join_this_run(run_dir: str) -> Iterator[None]:
    """While this job trains, the ranks Lightning launches land in `run_dir` and run this job.

    Lightning re-executes `sys.argv` for ranks > 0 and appends `hydra.run.dir=<this job's
    hydra.run.dir>`. Exporting HYDRATUNE_RUN_DIR makes that value (and the children's own
    composition) this run dir. In a multirun job, `sys.argv` is narrowed to this job's own
    overrides, so the children run this one trial instead of the whole sweep again.
    Afterwards the process group is released and `sys.argv` and the environment are
    restored, so the next job of a sweep launches its own ranks from a clean state.
    """
    if launched_by_a_launcher():
        yield
        return
    saved_argv = list(sys.argv)
    saved_env = {key: os.environ.get(key) for key in DISTRIBUTED_ENV}
    os.environ[RUN_DIR_ENV] = run_dir
    if _in_multirun():
        sys.argv = [sys.argv[0], *_job_overrides()]
    try:
        yield
    finally:
        release_process_group()
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def release_process_group() -> None:
    """Destroy the job's process group (DeepSpeed's handle too), so a next job can start one."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    if "deepspeed" in sys.modules:
        import deepspeed.comm

        if deepspeed.comm.is_initialized():
            deepspeed.comm.destroy_process_group()
            return
    dist.destroy_process_group()


def config_digest(cfg: DictConfig) -> str:
    """A short fingerprint of the resolved config; every rank logs it (they must agree)."""
    text = OmegaConf.to_yaml(cfg, resolve=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def log_rank_config(cfg: DictConfig) -> None:
    """Log this process's rank and config fingerprint into its log file in the run dir."""
    rank = os.environ.get("RANK", os.environ.get(LAUNCHED_RANK_ENV, "0"))
    log.info("rank %s config sha256 %s run dir %s", rank, config_digest(cfg), cfg.paths.run_dir)
