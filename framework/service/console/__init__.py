"""The web console at `/`: sign in with a project's API key, compose and launch jobs, watch
them, chat with the result. Server-rendered templates, small JavaScript, no build step."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from framework.service.console import chat, compose, pages
from framework.service.console.forms import (
    composed_defaults,
    method_fields,
    presets,
    run_fields,
)
from framework.service.console.session import SignedOut, load_secret
from framework.service.console.views import PageError, render

HERE = Path(__file__).parent


def mount(app: FastAPI, project_root: Path, data_dir: Path) -> None:
    """Add the console's routes, static files and error pages to the service app."""
    state = app.state
    state.console_secret = load_secret(data_dir)
    state.console_defaults = composed_defaults(project_root / "conf")
    state.console_form = {
        "presets": presets(project_root),
        "methods": method_fields(),
        "run_fields": run_fields(state.console_defaults),
    }
    for module in (chat, compose, pages):  # /jobs/{id}/chat before /jobs/{id}/{action}
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.exception_handler(SignedOut)
    async def signed_out(_request: Request, _error: SignedOut) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, error: PageError) -> Response:
        return render(
            request,
            "error.html",
            None,
            None,
            status=error.status,
            message=error.message,
            status_code=error.status,
        )
