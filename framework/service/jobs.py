"""/v1/fine_tuning/jobs: create (checked as train.py is), list, get, cancel/pause/resume, events."""

from __future__ import annotations

import random
import re
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Request

from framework.errors import UserError
from framework.service.auth import project_of
from framework.service.db import Checkpoint, Database, Event, Job, new_id, now
from framework.service.errors import api_error, not_found
from framework.service.files import get_file
from framework.service.objects import ACTIVE, checkpoint_object, event_object, job_object

router = APIRouter()
BODY = Body(...)  # the JSON body as a dict (OpenAI requests carry extension fields)
_compose_lock = threading.Lock()  # Hydra's global state: one composition at a time
HYDRATUNE_KEYS = ("method", "model", "hardware", "overrides")
# Keys the service owns: where the run goes and what it reads.
RESERVED = ("hydra", "paths", "dataset.path", "dataset.source", "run.resume", "run.dry_run")
SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
RANGES = {"n_epochs": (1, 50), "batch_size": (1, 1024), "learning_rate_multiplier": (1e-6, 100.0)}


def model_presets(config_dir: Path) -> list[str]:
    """The model presets (conf/model/*.yaml): the base models a job can start from."""
    return sorted(p.stem for p in (config_dir / "model").glob("*.yaml"))


def _hyperparameters(body: dict[str, Any]) -> dict[str, Any]:
    """n_epochs / batch_size / learning_rate_multiplier from `hyperparameters` or from
    `method.supervised.hyperparameters`; "auto" keeps the presets' values."""
    method = body.get("method") or {"type": "supervised"}
    if not isinstance(method, dict) or method.get("type", "supervised") != "supervised":
        kind = method.get("type") if isinstance(method, dict) else method
        raise api_error(
            400, f"method.type='{kind}' is not supported here (allowed: supervised)", "method.type"
        )
    nested = (method.get("supervised") or {}).get("hyperparameters") or {}
    given = {**(body.get("hyperparameters") or {}), **nested}
    values: dict[str, Any] = {}
    for key, (low, high) in RANGES.items():
        value = given.pop(key, "auto")
        if value in ("auto", None):
            values[key] = "auto"
            continue
        param = f"hyperparameters.{key}"
        number = float(value) if isinstance(value, (int, float)) else None
        if key != "learning_rate_multiplier" and not isinstance(value, int):
            number = None
        if number is None or isinstance(value, bool) or not low <= number <= high:
            kind = "an integer" if key != "learning_rate_multiplier" else "a number"
            raise api_error(
                400,
                f"{param}={value!r} is invalid: {kind} from {low} to {high}, or 'auto'",
                param,
                "invalid_hyperparameters",
            )
        values[key] = value
    if given:
        unknown = ", ".join(sorted(given))
        raise api_error(400, f"unknown hyperparameters: {unknown}", "hyperparameters")
    return values


def _hydratune(body: dict[str, Any]) -> dict[str, Any]:
    """The `hydratune` extension of the request: method, model, hardware, overrides."""
    ext = body.get("hydratune") or {}
    if not isinstance(ext, dict) or set(ext) - set(HYDRATUNE_KEYS):
        unknown = sorted(set(ext) - set(HYDRATUNE_KEYS)) if isinstance(ext, dict) else ext
        raise api_error(
            400,
            f"hydratune: unknown keys {unknown} (allowed: {', '.join(HYDRATUNE_KEYS)})",
            "hydratune",
        )
    overrides = ext.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise api_error(
            400, "hydratune.overrides must be a list of key=value strings", "hydratune.overrides"
        )
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if any(key == r or key.startswith(r + ".") or key.startswith(r + "/") for r in RESERVED):
            raise api_error(
                400,
                f"hydratune.overrides: '{key}' is set by the service (the job's run dir and "
                "training file), not by a request",
                "hydratune.overrides",
            )
    return {**ext, "overrides": overrides}


def compose_check(config_dir: Path, overrides: list[str]) -> Any:
    """train.py's preflight in-process: the composed config, or UserError."""
    from framework.cli.preflight import check_overrides

    with _compose_lock:
        return check_overrides(config_dir, "train", overrides)


def build_overrides(
    config_dir: Path,
    preset: str,
    path: str,
    ext: dict[str, Any],
    hp: dict[str, Any],
    seed: int,
    run_dir: Path,
) -> list[str]:
    """The train.py command line of a job; checked by the same composition as the CLI."""
    line = [f"model={preset}", "dataset=file", f"dataset.path={path}"]
    line += [f"{k}={ext[k]}" for k in ("method", "hardware") if ext.get(k)]
    if hp["n_epochs"] != "auto":
        line += [f"trainer.max_epochs={hp['n_epochs']}", "trainer.max_steps=-1"]
    if hp["batch_size"] != "auto":
        line.append(f"dataset.batch_size={hp['batch_size']}")
    line += [f"run.seed={seed}", "trainer.enable_progress_bar=false", *ext["overrides"]]
    line.append(f"hydra.run.dir={run_dir}")
    cfg = compose_check(config_dir, line)
    if hp["learning_rate_multiplier"] != "auto":
        lr = float(cfg.optim.lr) * float(hp["learning_rate_multiplier"])
        line.insert(-1, f"optim.lr={lr!r}")
        compose_check(config_dir, line)
    return line


def _get_job(db: Database, project: str, job_id: str) -> Job:
    with db.session() as session:
        row = session.execute(
            sa.select(Job).where(Job.id == job_id, Job.project == project)
        ).scalar_one_or_none()
    if row is None:
        raise not_found("fine_tuning_job", job_id)
    return row


@router.post("/v1/fine_tuning/jobs")
def create(
    request: Request, body: dict[str, Any] = BODY, project: str = Depends(project_of)
) -> dict[str, Any]:
    state = request.app.state
    for key in ("model", "training_file"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise api_error(400, f"'{key}' is required", key)
    if body.get("validation_file"):
        raise api_error(
            400,
            "validation_file is not supported yet: hydratune holds out dataset.val_fraction of "
            "the training file (set it in hydratune.overrides)",
            "validation_file",
        )
    training = get_file(state.db, project, body["training_file"])
    ext = _hydratune(body)
    hp = _hyperparameters(body)
    preset = str(ext.get("model") or body["model"])
    presets = model_presets(state.config_dir)
    if preset not in presets:
        raise api_error(
            400,
            f"model='{preset}' is not a base model here (allowed: {', '.join(presets)})",
            "model",
            "model_not_found",
        )
    suffix = body.get("suffix")
    if suffix is not None and not (isinstance(suffix, str) and SUFFIX.match(suffix)):
        raise api_error(400, "suffix: 1 to 40 characters of letters, digits, - and _", "suffix")
    seed = body.get("seed")
    if seed is None:
        seed = random.randint(0, 2**31 - 1)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**31:
        raise api_error(400, f"seed={seed!r} must be an integer from 0 to 2147483647", "seed")
    job_id = new_id("ftjob")
    job_dir = state.data_dir / "jobs" / job_id
    try:
        overrides = build_overrides(
            state.config_dir, preset, training.path, ext, hp, seed, job_dir / "run"
        )
    except UserError as error:
        raise api_error(400, str(error), "hydratune", "invalid_hydratune_config") from None
    name = ":".join(["ft", preset, project, *([suffix] if suffix else []), job_id])
    row = Job(
        id=job_id,
        project=project,
        model=body["model"],
        training_file=training.id,
        validation_file=None,
        status="validating_files",
        hyperparameters=hp,
        method={"type": "supervised", "supervised": {"hyperparameters": hp}},
        hydratune={**ext, "model": preset, "output_model": name},
        overrides=overrides,
        suffix=suffix,
        seed=seed,
        created_at=now(),
        job_dir=str(job_dir),
        launches=0,
        last_train_step=-1,
        last_val_step=-1,
    )
    job_dir.mkdir(parents=True)
    with state.db.session() as session:
        session.add(row)
        state.db.add_event(session, job_id, "Validating training file: " + training.filename)
    state.executor.wake()
    return job_object(row)


@router.get("/v1/fine_tuning/jobs")
def list_jobs(
    request: Request, after: str | None = None, limit: int = 20, project: str = Depends(project_of)
) -> dict[str, Any]:
    limit = max(1, min(limit, 100))
    query = sa.select(Job).where(Job.project == project)
    if after:
        query = query.where(Job.seq < _get_job(request.app.state.db, project, after).seq)
    with request.app.state.db.session() as session:
        rows = list(session.execute(query.order_by(Job.seq.desc()).limit(limit + 1)).scalars())
    return {
        "object": "list",
        "data": [job_object(r) for r in rows[:limit]],
        "has_more": len(rows) > limit,
    }


@router.get("/v1/fine_tuning/jobs/{job_id}")
def retrieve(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return job_object(_get_job(request.app.state.db, project, job_id))


def _transition(request: Request, project: str, job_id: str, action: str) -> dict[str, Any]:
    """cancel / pause / resume: immediate when nothing runs, else through the executor."""
    db: Database = request.app.state.db
    _get_job(db, project, job_id)
    with db.session() as session:
        row = session.execute(sa.select(Job).where(Job.id == job_id).with_for_update()).scalar_one()
        allowed = {
            "cancel": ACTIVE,
            "pause": ("validating_files", "queued", "running"),
            "resume": ("paused",),
        }[action]
        if row.status not in allowed:
            raise api_error(400, f"cannot {action} a job whose status is {row.status}", "job_id")
        if action == "resume":
            row.status, row.requested = "queued", None
            db.add_event(session, job_id, "Job resumed: queued to continue from its checkpoint")
        elif row.status == "running":
            row.requested = action
            db.add_event(session, job_id, f"{action.capitalize()} requested: checkpointing")
        else:
            row.status = "cancelled" if action == "cancel" else "paused"
            row.requested = None
            if action == "cancel":
                row.finished_at = now()
            db.add_event(session, job_id, f"Job {row.status}")
    request.app.state.executor.wake()
    return job_object(_get_job(db, project, job_id))


@router.post("/v1/fine_tuning/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return _transition(request, project, job_id, "cancel")


@router.post("/v1/fine_tuning/jobs/{job_id}/pause")
def pause(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return _transition(request, project, job_id, "pause")


@router.post("/v1/fine_tuning/jobs/{job_id}/resume")
def resume(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return _transition(request, project, job_id, "resume")


@router.get("/v1/fine_tuning/jobs/{job_id}/events")
def events(
    request: Request,
    job_id: str,
    after: str | None = None,
    limit: int = 20,
    project: str = Depends(project_of),
) -> dict[str, Any]:
    db: Database = request.app.state.db
    _get_job(db, project, job_id)
    limit = max(1, min(limit, 1000))
    query = sa.select(Event).where(Event.job_id == job_id)
    if after:
        try:
            query = query.where(Event.seq < int(after.removeprefix("ftevent-")))
        except ValueError:
            raise api_error(400, f"after='{after}' is not an event id", "after") from None
    with db.session() as session:
        rows = list(session.execute(query.order_by(Event.seq.desc()).limit(limit + 1)).scalars())
    return {
        "object": "list",
        "data": [event_object(r) for r in rows[:limit]],
        "has_more": len(rows) > limit,
    }


@router.get("/v1/fine_tuning/jobs/{job_id}/checkpoints")
def checkpoints(
    request: Request,
    job_id: str,
    after: str | None = None,
    limit: int = 10,
    project: str = Depends(project_of),
) -> dict[str, Any]:
    db: Database = request.app.state.db
    job = _get_job(db, project, job_id)
    limit = max(1, min(limit, 100))
    query = sa.select(Checkpoint).where(Checkpoint.job_id == job_id)
    if after:
        with db.session() as session:
            mark = session.execute(
                sa.select(Checkpoint.seq).where(Checkpoint.id == after, Checkpoint.job_id == job_id)
            ).scalar_one_or_none()
        if mark is None:
            raise not_found("checkpoint", after)
        query = query.where(Checkpoint.seq < mark)
    with db.session() as session:
        rows = list(
            session.execute(query.order_by(Checkpoint.seq.desc()).limit(limit + 1)).scalars()
        )
    name = str(job.hydratune.get("output_model"))
    return {
        "object": "list",
        "data": [checkpoint_object(r, name) for r in rows[:limit]],
        "has_more": len(rows) > limit,
        "first_id": rows[0].id if rows else None,
        "last_id": rows[min(limit, len(rows)) - 1].id if rows else None,
    }
