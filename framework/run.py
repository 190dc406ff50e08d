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
    problems = all_problems(cfg)
    if cfg.run.dry_run:
        from framework.plan import render_plan

        print(render_plan(cfg, problems))
        if problems:  # exit 2, like the real run would, after showing the whole plan
            raise UserError(f"the dry run found {len(problems)} problem(s), listed above")
        return float("nan")
    if problems:
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    from framework.models.checks import check_before_launch
    from framework.training.job import Job

    check_before_launch(cfg)  # chat template x rows, with the tokenizer only (no weights)
    from framework.training.ranks import log_rank_config, ranks_join_this_run
    from framework.training.trainer_factory import close_loggers

    started = time.perf_counter()
    log_rank_config(cfg)
    with ranks_join_this_run(str(cfg.paths.run_dir)):
        job = Job.from_config(cfg)
        finished = False
        try:
            metrics = job.fit()
            metrics["wall_time_s"] = round(time.perf_counter() - started, 2)
            job.write_artifacts(metrics, command=_command())
            finished = True
        finally:
            close_loggers(job.trainer.loggers, failed=not finished)
    log.info("run dir: %s", job.run_dir)
    return float(metrics["val_loss_after"])


def _command() -> str:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    return " ".join(["python train.py", *overrides]) if overrides else "python train.py"
