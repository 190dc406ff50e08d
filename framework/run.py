"""train(cfg): check the config, then build, fit and write the run dir (or print a plan)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig

from framework.config.strict import strict_problems
from framework.config.validate import all_problems
from framework.errors import UserError

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Run one fine-tuning job; return the final validation loss (what sweeps optimize)."""
    problems = all_problems(cfg)
    if problems and strict_problems(cfg):  # the plan could not even be read
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    if cfg.run.dry_run:
        from framework.plan import render_plan

        print(render_plan(cfg, problems))
        if problems:  # exit 2, like the real run would, after showing the whole plan
            raise UserError(f"the dry run found {len(problems)} problem(s), listed above")
        return float("nan")
    if problems:
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    from framework.builders.trainer import close_loggers
    from framework.models.checks import check_before_launch
    from framework.training.job import Job
    from framework.training.ranks import log_rank_config, ranks_join_this_run
    from framework.training.run_lock import exclusive_run_dir, is_rank_zero_launch
    from framework.training.run_record import write_hydra_record

    check_before_launch(cfg)  # chat template x rows, with the tokenizer only (no weights)
    started = time.perf_counter()
    log_rank_config(cfg)
    with (
        exclusive_run_dir(Path(str(cfg.paths.run_dir))),
        ranks_join_this_run(str(cfg.paths.run_dir)),
    ):
        if is_rank_zero_launch():
            write_hydra_record(cfg, Path(str(cfg.paths.run_dir)))
        job = Job.from_config(cfg)
        finished = False
        try:
            if cfg.run.find_lr:
                from framework.training.lr_finder import find_lr

                found = find_lr(job)
                finished = True
                return float(found.get("suggested_lr") or float("nan"))
            metrics = job.fit()
            metrics["wall_time_s"] = round(time.perf_counter() - started, 2)
            job.write(metrics, command=_command())
            finished = True
        finally:
            close_loggers(job.trainer.loggers, failed=not finished)
    log.info("run dir: %s", job.run_dir)
    return float(metrics["val_loss_after"])


def _command() -> str:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    return " ".join(["python train.py", *overrides]) if overrides else "python train.py"
