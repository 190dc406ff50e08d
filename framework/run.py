"""train(cfg): check the config, then build, fit and write the run dir (or print a plan)."""

from __future__ import annotations

import logging
import time

from omegaconf import DictConfig

from framework.config.validate import all_problems
from framework.errors import UserError

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Run one fine-tuning job; return the final validation loss (what sweeps optimize)."""
    if cfg.run.dry_run:
        from framework.plan import render_plan

        print(render_plan(cfg))
        return float("nan")
    problems = all_problems(cfg)
    if problems:
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    from framework.training.job import Job
    from framework.training.trainer_factory import close_loggers

    started = time.perf_counter()
    job = Job.from_config(cfg)
    try:
        metrics = job.fit()
        metrics["wall_time_s"] = round(time.perf_counter() - started, 2)
        job.write_artifacts(metrics, command=_command())
    finally:
        close_loggers(job.trainer.loggers)
    log.info("run dir: %s", job.run_dir)
    return float(metrics["val_loss_after"])


def _command() -> str:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    return " ".join(["python train.py", *overrides]) if overrides else "python train.py"
