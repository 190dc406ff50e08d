"""The chat page: one prompt answered by the fine-tuned model and by its base, side by side."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from framework.service.console import views
from framework.service.console.session import check_csrf, session_project
from framework.service.console.views import PageError, render
from framework.service.inference import generate

router = APIRouter(include_in_schema=False)
MAX_TOKENS = (1, 512)


def _chat_job(request: Request, project: str, job_id: str) -> views.Job:
    job = views.own_job(request.app.state.db, project, job_id)
    if job.status != "succeeded":
        raise PageError(409, f"job {job_id} is {job.status}: chat opens when it has succeeded")
    return job


@router.get("/jobs/{job_id}/chat", response_class=HTMLResponse)
def chat_page(request: Request, job_id: str) -> Response:
    project, cookie = session_project(request)
    job = _chat_job(request, project, job_id)
    return render(request, "chat.html", project, cookie, job=job, prompt="", max_tokens=32)


def _answers(request: Request, job: views.Job, prompt: str, max_tokens: int) -> dict[str, str]:
    run_dir = Path(job.job_dir) / "run"
    messages = [{"role": "user", "content": prompt}]
    body = {"max_tokens": max_tokens, "temperature": 0}
    cache = request.app.state.models
    return {
        "tuned": generate(cache, run_dir, messages, body)[0],
        "base": generate(cache, run_dir, messages, body, base=True)[0],
    }


@router.post("/jobs/{job_id}/chat", response_class=HTMLResponse)
async def chat(request: Request, job_id: str) -> Response:
    project, cookie = session_project(request)
    form = await request.form()
    check_csrf(request, cookie, str(form.get("csrf_token", "")))
    job = _chat_job(request, project, job_id)
    prompt = str(form.get("prompt", "")).strip()
    text = str(form.get("max_tokens", "32")).strip()
    error = None
    if not prompt:
        error = "prompt: write a message to send"
    elif not text.isdigit() or not MAX_TOKENS[0] <= int(text) <= MAX_TOKENS[1]:
        error = f"max_tokens='{text}': an integer from {MAX_TOKENS[0]} to {MAX_TOKENS[1]}"
    answers = None
    if error is None:
        answers = await run_in_threadpool(_answers, request, job, prompt, int(text))
    return render(
        request,
        "chat.html",
        project,
        cookie,
        job=job,
        prompt=prompt,
        max_tokens=text,
        answers=answers,
        error=error,
        status_code=400 if error else 200,
    )
