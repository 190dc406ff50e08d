"""/v1/fine_tuning/jobs: create (checked as train.py is), list, get, cancel/pause/resume, events."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Request

from framework.errors import UserError
from framework.service.auth import project_of
from framework.service.db import Checkpoint, Database, Event, File, Job, new_id, now
from framework.service.errors import api_error, not_found
from framework.service.files import get_file
from framework.service.job_requests import (
    build_overrides,
    checked_request,
    dataset_overrides,
    hydratune_extension,
    model_presets,
    preset_formats,
    training_data,
)
from framework.service.method_types import (
    COMMON,
    MethodType,
    file_check,
    hyperparameters_of,
    method_object,
    preset_check,
)
from framework.service.objects import ACTIVE, checkpoint_object, event_object, job_object

router = APIRouter()
BODY = Body(...)  # the JSON body as a dict (OpenAI requests carry extension fields)


def _get_job(db: Database, project: str, job_id: str) -> Job:
    with db.session() as session:
        row = session.execute(
            sa.select(Job).where(Job.id == job_id, Job.project == project)
        ).scalar_one_or_none()
    if row is None:
        raise not_found("fine_tuning_job", job_id)
    return row


@dataclass
class PlannedJob:
    """A checked create request: what the job trains on and its train.py command line."""

    kind: MethodType
    hp: dict[str, Any]
    ext: dict[str, Any]
    training: File | None
    dataset: str | None  # a dataset preset (None: the training file)
    preset: str  # the base model preset
    suffix: str | None
    seed: int
    line: list[str]
    cfg: Any  # the composed run config


def plan_job(state: Any, project: str, body: dict[str, Any], run_dir: Path) -> PlannedJob:
    """Check a create request (HTTPException 400 naming the param) and compose its command line
    (UserError from the CLI's checks); the console's dry run plans with it too."""
    ext, (kind, hp) = hydratune_extension(body), hyperparameters_of(body)
    formats = preset_formats(state.config_dir)
    file_id, dataset = training_data(body, ext, list(formats))
    if dataset:
        preset_check(kind, dataset, formats)
    training = get_file(state.db, project, file_id) if file_id else None
    if training:
        file_check(kind, Path(training.path), training.filename, training.id)
    preset, suffix, seed = checked_request(body, ext, model_presets(state.config_dir))
    data = dataset_overrides(training.path if training else None, dataset, kind)
    try:
        line, cfg = build_overrides(state.config_dir, preset, data, ext, (kind, hp, seed), run_dir)
    except UserError as error:  # a bad row names the file as it was uploaded
        if training is None:
            raise
        raise UserError(str(error).replace(training.path, training.filename)) from None
    return PlannedJob(kind, hp, ext, training, dataset, preset, suffix, seed, line, cfg)


@router.post("/v1/fine_tuning/jobs")
def create(
    request: Request, body: dict[str, Any] = BODY, project: str = Depends(project_of)
) -> dict[str, Any]:
    state = request.app.state
    job_id = new_id("ftjob")
    job_dir = state.data_dir / "jobs" / job_id
    try:
        plan = plan_job(state, project, body, job_dir / "run")
    except UserError as error:
        raise api_error(400, str(error), "hydratune", "invalid_hydratune_config") from None
    training, dataset, preset, suffix = plan.training, plan.dataset, plan.preset, plan.suffix
    name = ":".join(["ft", preset, project, *([suffix] if suffix else []), job_id])
    row = Job(
        id=job_id,
        project=project,
        model=body["model"],
        training_file=training.id if training else None,
        dataset_preset=dataset,
        validation_file=None,
        # a preset has no file to validate: the job is queued at once
        status="validating_files" if training else "queued",
        # OpenAI's top-level echo holds the common ones; `method` holds the type's own too
        hyperparameters={k: v for k, v in plan.hp.items() if k in COMMON},
        method=method_object(plan.kind, plan.hp, plan.cfg),
        # the preset lives in its column (job_object shows it under hydratune.dataset)
        hydratune={
            **{k: v for k, v in plan.ext.items() if k != "dataset"},
            "model": preset,
            "output_model": name,
        },
        overrides=plan.line,
        suffix=suffix,
        seed=plan.seed,
        created_at=now(),
        job_dir=str(job_dir),
        launches=0,
        last_train_step=-1,
        last_val_step=-1,
    )
    job_dir.mkdir(parents=True)
    with state.db.session() as session:
        session.add(row)
        if training:
            state.db.add_event(session, job_id, "Validating training file: " + training.filename)
        else:
            message = f"Dataset preset {dataset}: no file to validate, moving job to queued state"
            state.db.add_event(session, job_id, message)
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


def transition(request: Request, project: str, job_id: str, action: str) -> dict[str, Any]:
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
    return transition(request, project, job_id, "cancel")


@router.post("/v1/fine_tuning/jobs/{job_id}/pause")
def pause(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return transition(request, project, job_id, "pause")


@router.post("/v1/fine_tuning/jobs/{job_id}/resume")
def resume(request: Request, job_id: str, project: str = Depends(project_of)) -> dict[str, Any]:
    return transition(request, project, job_id, "resume")


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
