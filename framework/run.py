"""train(cfg): resolve the hardware plan once, check the config, then build, fit and write the
run dir (or print the dry run)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from framework.config.strict import strict_problems
from framework.config.validate import all_problems
from framework.errors import UserError
from framework.hardware.machine import Machine
from framework.hardware.plan import HardwarePlan, HardwareSpec, resolve_plan

if TYPE_CHECKING:
    from framework.training.job import Job

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float:
    """Run one fine-tuning job; return the final validation loss (what sweeps optimize)."""
    plan, problems = checked_plan(cfg)
    if cfg.run.dry_run:
        from framework.dry_run import render_dry_run

        print(render_dry_run(cfg, plan, problems))
        if problems:  # exit 2, like the real run would, after showing the whole dry run
            raise UserError(f"the dry run found {len(problems)} problem(s), listed above")
        return float("nan")
    if problems:
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    from framework.models.checks import check_before_launch

    check_before_launch(cfg)  # chat template x rows, with the tokenizer only (no weights)
    if cfg.run.preview:
        from framework.data.preview import render_preview

        print(render_preview(cfg, int(cfg.run.preview)))
        return float("nan")
    return _run(cfg, plan)


def checked_plan(cfg: DictConfig) -> tuple[HardwarePlan, list[str]]:
    """The run's one hardware plan and every problem of the config (raises when the config
    cannot even be read)."""
    strict = strict_problems(cfg)
    if strict:  # the config cannot even be read: nothing else can be checked or planned
        raise UserError("\n  ".join(["the run cannot start:", *strict]))
    # The one resolution of this run's hardware: the checks, the dry run and the Trainer use it.
    # A dry run stays torch-free; a real run asks torch about the GPUs (where there are any).
    machine = Machine.detect(probe_torch=not cfg.run.dry_run)
    plan = resolve_plan(HardwareSpec.of_run(cfg), machine)
    problems = all_problems(cfg, plan)
    if cfg.run.preview and (cfg.run.dry_run or cfg.run.find_lr):
        problems.append("run.preview is set with run.dry_run or run.find_lr: set one of them")
    return plan, problems


def _run(cfg: DictConfig, plan: HardwarePlan) -> float:
    """Hold the run dir, record this attempt, build the job, then fit (or find the LR)."""
    from framework.hardware.ranks import log_rank_config, ranks_join_this_run
    from framework.training.job import Job
    from framework.training.lr_finder import resolve_auto_lr
    from framework.training.resume_check import resume_checkpoint
    from framework.training.run_lock import exclusive_run_dir, is_rank_zero_launch

    started = time.perf_counter()
    log_rank_config(cfg)
    run_dir = Path(str(cfg.paths.run_dir))
    with exclusive_run_dir(run_dir), ranks_join_this_run(str(run_dir)):
        resume_from = resume_checkpoint(str(cfg.run.resume), run_dir)
        if is_rank_zero_launch():
            _record_attempt(cfg, plan, run_dir, resume_from)
        train_cfg, lr_found = resolve_auto_lr(cfg, plan, resuming=resume_from is not None)
        job = Job.from_config(train_cfg, plan, resume_from=resume_from)
        result = _fit_and_write(cfg, job, lr_found, started)
    if not cfg.run.find_lr:
        log.info("run dir: %s", job.run_dir)
    return result


def _record_attempt(
    cfg: DictConfig, plan: HardwarePlan, run_dir: Path, resume_from: Path | None
) -> None:
    """Rank zero, before anything is written: the resume check, the Hydra record and the
    checkpoints' fingerprint."""
    from framework.training.resume_check import check_resume, fingerprint, write_fingerprint
    from framework.training.run_record import write_hydra_record

    now = fingerprint(cfg, plan.world_size)  # hashes the data file: once per attempt
    check_resume(cfg, resume_from, run_dir, now)  # before anything is written
    write_hydra_record(cfg, run_dir)
    if cfg.run.save_checkpoints:
        write_fingerprint(run_dir / "checkpoints", now)


def _fit_and_write(cfg: DictConfig, job: Job, lr_found: dict[str, Any], started: float) -> float:
    """run.find_lr: the suggested LR; otherwise fit, write the run dir and return the final
    validation loss. The loggers are closed either way (marked failed when it raised)."""
    from framework.builders.trainer import close_loggers

    finished = False
    try:
        if cfg.run.find_lr:
            from framework.training.lr_finder import find_lr

            found = find_lr(job)
            finished = True
            return float(found.get("suggested_lr") or float("nan"))
        metrics = {**job.fit(), **lr_found}
        metrics["wall_time_s"] = round(time.perf_counter() - started, 2)
        job.write(metrics, command=_command())
        finished = True
    finally:
        close_loggers(job.trainer.loggers, failed=not finished)
    return float(metrics["val_loss_after"])


def _command() -> str:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    return " ".join(["python train.py", *overrides]) if overrides else "python train.py"
