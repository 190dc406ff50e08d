"""The new-job page: training data (an upload, row-checked as the API does, or a dataset preset),
the form generated from the schemas, the dry-run plan as `run.dry_run=true` prints it, and the
job created through the API's own create."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from omegaconf import open_dict
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from framework.errors import UserError
from framework.service import files, jobs
from framework.service.console import views
from framework.service.console.forms import form_overrides
from framework.service.console.session import check_csrf, session_project
from framework.service.console.views import render
from framework.service.db import File
from framework.service.job_requests import RANGES, compose_check

router = APIRouter(include_in_schema=False)
HYPERPARAMETERS = tuple(RANGES)
DATA_SOURCES = ("file", "preset")  # the form's training-data choice: an upload or a preset


def _files(request: Request, project: str) -> list[File]:
    query = sa.select(File).where(File.project == project, ~File.deleted).order_by(File.seq.desc())
    with request.app.state.db.session() as session:
        return list(session.execute(query).scalars())


def _page(request: Request, project: str, cookie: str, **context: Any) -> Response:
    state = request.app.state
    form = state.console_form
    return render(
        request,
        "new.html",
        project,
        cookie,
        files=_files(request, project),
        presets=form["presets"],
        methods=form["methods"],
        run_fields=form["run_fields"],
        hyperparameters=HYPERPARAMETERS,
        ranges=RANGES,
        values=context.pop("values", {}),
        defaults={
            "model": state.console_defaults.model.name,
            "method": state.console_defaults.method.name,
            "hardware": state.console_defaults.hardware.name,
        },
        **context,
    )


@router.get("/new", response_class=HTMLResponse)
def new_job(request: Request, file: str | None = None) -> Response:
    project, cookie = session_project(request)
    values = {"training_file": file} if file else {}
    return _page(request, project, cookie, values=values, uploaded=file)


@router.post("/files")
async def upload(request: Request) -> Response:
    """Upload a training file; a bad one shows the server's file:line messages."""
    project, cookie = session_project(request)
    form = await request.form()
    check_csrf(request, cookie, str(form.get("csrf_token", "")))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(request, project, cookie, upload_error="Choose a file to upload.")
    try:
        file: Any = upload  # the API's handler reads .filename and .file, as FastAPI gives them
        row = await run_in_threadpool(files.upload, request, file, "fine-tune", project)
    except HTTPException as error:
        message = views.message_of(error)
        return _page(request, project, cookie, upload_error=message, status_code=400)
    return RedirectResponse(f"/new?file={row['id']}", status_code=303)


def _number(text: str) -> Any:
    """A typed number when the text is one (the API checks ranges and types), else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def request_body(request: Request, form: dict[str, str]) -> dict[str, Any]:
    """The create-job request the form describes (the API's own body)."""
    form_spec = request.app.state.console_form
    method = form.get("method", "")
    fields = form_spec["methods"].get(method, []) + form_spec["run_fields"]
    hp = {k: _number(form.get(k, "auto").strip() or "auto") for k in HYPERPARAMETERS}
    hp = {k: ("auto" if v == "auto" else v) for k, v in hp.items()}
    seed = form.get("seed", "").strip()
    ext = {
        "method": method,
        "hardware": form.get("hardware", ""),
        "overrides": form_overrides(fields, form) + extra_overrides(form),
    }
    body = {
        "model": form.get("model", ""),
        "suffix": form.get("suffix", "").strip() or None,
        "seed": _number(seed) if seed else None,
        "hyperparameters": hp,
        "hydratune": ext,
    }
    if form.get("data_source", "file") == "preset":
        return {**body, "hydratune": {**ext, "dataset": form.get("dataset", "")}}
    return {**body, "training_file": form.get("training_file", "")}


def extra_overrides(form: dict[str, str]) -> list[str]:
    """The form's free key=value lines (any other key of the run), one per line."""
    return [line.strip() for line in form.get("overrides", "").splitlines() if line.strip()]


def dry_run(request: Request, project: str, body: dict[str, Any]) -> str:
    """The job's train.py command line and its `run.dry_run=true` output (plan, memory
    estimate, problems), or its error."""
    from framework.config.validate import all_problems
    from framework.dry_run import render_dry_run
    from framework.hardware.machine import Machine
    from framework.hardware.plan import HardwareSpec, resolve_plan

    state = request.app.state
    run_dir = state.data_dir / "plans" / "run"
    try:
        line = jobs.plan_job(state, project, body, run_dir).line
        # the run dir is Hydra's at run time: named here, so the plan resolves without Hydra
        extra = ["run.dry_run=true", f"paths.run_dir={run_dir}"]
        cfg = compose_check(state.config_dir, [*line, *extra])
    except HTTPException as error:
        return "problems: 1\n  - " + views.message_of(error)
    except UserError as error:
        return "problems:\n  " + str(error)
    with open_dict(cfg):
        cfg.pop("hydra")  # Hydra's own settings are not part of the run's printed config
    plan = resolve_plan(HardwareSpec.of_run(cfg), Machine.detect(probe_torch=False))
    command = " ".join(o for o in line if not o.startswith("hydra.run.dir="))
    return f"# the job's command line: train.py {command}\n" + render_dry_run(
        cfg, plan, all_problems(cfg, plan)
    )


@router.post("/new")
async def submit(request: Request) -> Response:
    """Check plan (the dry run, shown above the form) or start the job."""
    project, cookie = session_project(request)
    form = {k: str(v) for k, v in (await request.form()).items()}
    check_csrf(request, cookie, form.get("csrf_token"))
    if form.get("data_source", "file") not in DATA_SOURCES:
        message = f"data_source={form['data_source']!r} is not one of: {', '.join(DATA_SOURCES)}"
        return _page(request, project, cookie, values=form, error=message, status_code=400)
    body = request_body(request, form)
    if form.get("action") == "plan":
        plan = await run_in_threadpool(dry_run, request, project, body)
        return _page(request, project, cookie, values=form, plan=plan)
    try:
        job = await run_in_threadpool(jobs.create, request, body, project)
    except HTTPException as error:
        message = views.message_of(error)
        return _page(request, project, cookie, values=form, error=message, status_code=400)
    return RedirectResponse(f"/jobs/{job['id']}", status_code=303)
