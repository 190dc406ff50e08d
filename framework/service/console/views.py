"""What the console's pages show, read from the service's rows: a project's own job (404 for
any other), a job's table line, its loss points, tokens/s; page rendering and page errors."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from framework.service.console.session import PageError, csrf_token
from framework.service.db import Checkpoint, Database, Event, Job

__all__ = ["Job", "PageError", "render"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TEMPLATES.env.filters["utc"] = lambda seconds: time.strftime("%H:%M:%S", time.gmtime(seconds))


def render(
    request: Request, template: str, project: str | None, cookie: str | None, **context: Any
) -> HTMLResponse:
    """A page with the signed-in project and the session's CSRF token for its forms."""
    token = csrf_token(request, cookie) if cookie else context.pop("csrf", "")
    status = int(context.pop("status_code", 200))
    return TEMPLATES.TemplateResponse(
        request,
        template,
        {"project": project, "csrf": token, **context},
        status_code=status,
    )


def own_job(db: Database, project: str, job_id: str) -> Job:
    """The project's job; a 404 page for a job of another project or none (indistinguishable)."""
    with db.session() as session:
        row = session.execute(
            sa.select(Job).where(Job.id == job_id, Job.project == project)
        ).scalar_one_or_none()
    if row is None:
        raise PageError(404, f"No such fine-tuning job: {job_id}")
    return row


def max_steps(job: Job, default: int) -> int | None:
    """The step budget from the job's command line (the last trainer.max_steps wins)."""
    value = default
    for override in job.overrides:
        if override.startswith("trainer.max_steps="):
            value = int(override.split("=", 1)[1])
    return value if value > 0 else None


def metric_points(db: Database, job_id: str) -> dict[str, list[list[float]]]:
    """[step, loss] points of the job's train and validation loss, from its metric events."""
    with db.session() as session:
        rows = list(
            session.execute(
                sa.select(Event.data)
                .where(Event.job_id == job_id, Event.type == "metrics")
                .order_by(Event.seq)
            ).scalars()
        )
    points: dict[str, list[list[float]]] = {"train": [], "valid": []}
    for data in rows:
        if data and "train_loss" in data:
            points["train"].append([data["step"], data["train_loss"]])
        elif data and "valid_loss" in data:
            points["valid"].append([data["step"], data["valid_loss"]])
    return points


def tokens_per_second(run_dir: Path) -> float | None:
    """The newest tok/s the run logged (logs/metrics.csv), if any."""
    try:
        text = (run_dir / "logs" / "metrics.csv").read_text()
    except OSError:
        return None
    found = None
    for row in csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])):
        try:
            found = float(row.get("tok/s") or "") or found
        except ValueError:
            continue
    return found


def duration(job: Job) -> str:
    """How long the job has run (or ran), as 1m05s."""
    seconds = int((job.finished_at or time.time()) - job.created_at)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def job_line(db: Database, job: Job, defaults: Any) -> dict[str, Any]:
    """One row of the jobs table (defaults: the composed config, for what a job left unset)."""
    points = metric_points(db, job.id)
    budget = max_steps(job, int(defaults.trainer.max_steps))
    done = max(job.last_train_step, 0)
    return {
        "id": job.id,
        "status": job.status,
        "model": job.hydratune.get("model", job.model),
        "method": job.hydratune.get("method") or str(defaults.method.name),
        "progress": f"{done}/{budget}" if budget else f"{done} steps",
        "percent": min(100, int(100 * done / budget)) if budget else None,
        "train_loss": points["train"][-1][1] if points["train"] else None,
        "valid_loss": points["valid"][-1][1] if points["valid"] else None,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job.created_at)),
        "duration": duration(job),
    }


def project_jobs(db: Database, project: str) -> list[Job]:
    """The project's newest jobs (up to 50)."""
    with db.session() as session:
        query = sa.select(Job).where(Job.project == project).order_by(Job.seq.desc()).limit(50)
        return list(session.execute(query).scalars())


def job_details(db: Database, job: Job) -> dict[str, Any]:
    """Events (newest first) and checkpoints of a job."""
    with db.session() as session:
        events = list(
            session.execute(
                sa.select(Event).where(Event.job_id == job.id).order_by(Event.seq.desc()).limit(200)
            ).scalars()
        )
        checkpoints = list(
            session.execute(
                sa.select(Checkpoint).where(Checkpoint.job_id == job.id).order_by(Checkpoint.step)
            ).scalars()
        )
    return {"events": events, "checkpoints": checkpoints}


def run_config(job: Job) -> str:
    """The run's resolved config as recorded in its run dir, or a note that there is none yet."""
    path = Path(job.job_dir) / "run" / ".hydra" / "config.yaml"
    try:
        return path.read_text()
    except OSError:
        return "(not written yet: the run records its config when it starts)\n\n" + "\n".join(
            job.overrides
        )


def message_of(error: Any) -> str:
    """The message of an API error (an HTTPException whose detail is OpenAI's error object)."""
    detail = error.detail
    return str(detail.get("message", detail)) if isinstance(detail, dict) else str(detail)
