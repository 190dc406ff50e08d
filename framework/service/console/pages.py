"""Console pages: sign in/out, the jobs table, a job (chart data, actions, adapter download)."""

from __future__ import annotations

import io
import secrets
import zipfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from framework.service import jobs
from framework.service.console import views
from framework.service.console.session import (
    COOKIE,
    check_csrf,
    key_of,
    session_project,
    set_session,
    sign,
)
from framework.service.console.views import PageError, render

router = APIRouter(include_in_schema=False)
LOGIN_COOKIE = "hydratune_login"
ACTIONS = ("cancel", "pause", "resume")


def _login_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    nonce = secrets.token_hex(16)
    secret = request.app.state.console_secret
    page = render(
        request,
        "login.html",
        None,
        None,
        csrf=sign(secret, "login:" + nonce),
        error=error,
        status_code=status,
    )
    page.set_cookie(LOGIN_COOKIE, nonce, httponly=True, samesite="strict", path="/login")
    return page


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    nonce = request.cookies.get(LOGIN_COOKIE, "")
    expected = sign(request.app.state.console_secret, "login:" + nonce)
    if not nonce or not secrets.compare_digest(expected, str(form.get("csrf_token", ""))):
        return _login_page(request, "The sign-in form expired: please try again.", 403)
    row = await run_in_threadpool(key_of, request.app.state.db, str(form.get("api_key", "")))
    if row is None:
        return _login_page(request, "Incorrect or revoked API key.", 401)
    response = RedirectResponse("/", status_code=303)
    secure = request.url.scheme == "https"
    set_session(response, request.app.state.console_secret, str(row.id), secure)
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    _project, cookie = session_project(request)
    check_csrf(request, cookie, str((await request.form()).get("csrf_token", "")))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _table(request: Request, project: str) -> list[dict[str, Any]]:
    state = request.app.state
    rows = views.project_jobs(state.db, project)
    return [views.job_line(state.db, job, state.console_defaults) for job in rows]


@router.get("/", response_class=HTMLResponse)
def job_list(request: Request) -> Response:
    project, cookie = session_project(request)
    return render(request, "jobs.html", project, cookie, jobs=_table(request, project))


@router.get("/jobs-table", response_class=HTMLResponse)
def job_rows(request: Request) -> Response:
    """The table body alone: the jobs page refreshes itself with it."""
    project, cookie = session_project(request)
    return render(request, "job_rows.html", project, cookie, jobs=_table(request, project))


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str) -> Response:
    project, cookie = session_project(request)
    state = request.app.state
    job = views.own_job(state.db, project, job_id)
    line = views.job_line(state.db, job, state.console_defaults)
    return render(
        request,
        "job.html",
        project,
        cookie,
        job=job,
        line=line,
        config=views.run_config(job),
        tokens_per_second=views.tokens_per_second(Path(job.job_dir) / "run"),
        **views.job_details(state.db, job),
    )


@router.get("/jobs/{job_id}/metrics")
def job_metrics(request: Request, job_id: str) -> JSONResponse:
    """The chart's points and the job's status (the job page polls this)."""
    project, _cookie = session_project(request)
    db = request.app.state.db
    job = views.own_job(db, project, job_id)
    tps = views.tokens_per_second(Path(job.job_dir) / "run")
    body = {"status": job.status, "tokens_per_second": tps, **views.metric_points(db, job.id)}
    return JSONResponse(body)


@router.post("/jobs/{job_id}/{action}")
async def job_action(request: Request, job_id: str, action: str) -> Response:
    """cancel / pause / resume through the API's own transition."""
    project, cookie = session_project(request)
    check_csrf(request, cookie, str((await request.form()).get("csrf_token", "")))
    views.own_job(request.app.state.db, project, job_id)
    if action not in ACTIONS:
        raise PageError(404, f"No such action: {action}")
    try:
        await run_in_threadpool(jobs.transition, request, project, job_id, action)
    except HTTPException as error:
        raise PageError(error.status_code, views.message_of(error)) from None
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)


@router.get("/jobs/{job_id}/adapter.zip")
def adapter(request: Request, job_id: str) -> Response:
    """The trained adapter folder (PEFT format) as a zip."""
    project, _cookie = session_project(request)
    job = views.own_job(request.app.state.db, project, job_id)
    folder = Path(job.job_dir) / "run" / "adapter"
    if job.status != "succeeded" or not folder.is_dir():
        raise PageError(404, f"job {job_id} has no adapter (status {job.status})")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, str(Path("adapter") / path.relative_to(folder)))
    headers = {"Content-Disposition": f'attachment; filename="{job_id}-adapter.zip"'}
    return Response(buffer.getvalue(), media_type="application/zip", headers=headers)
