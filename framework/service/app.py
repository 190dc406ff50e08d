"""The FastAPI app: routers, OpenAI-shaped errors, request size limit, executor lifecycle."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from omegaconf import DictConfig
from starlette.exceptions import HTTPException as StarletteHTTPException

from framework.service import files, inference, jobs
from framework.service.console import mount as mount_console
from framework.service.db import Database
from framework.service.errors import error_body
from framework.service.executor import LocalExecutor


def create_app(cfg: DictConfig, db: Database, project_root: Path) -> FastAPI:
    """The app over this database; the executor starts and stops with it."""
    data_dir = Path(str(cfg.data_dir)).expanduser().resolve()
    executor = LocalExecutor(
        db, project_root, int(cfg.slots), int(cfg.max_running_per_project), float(cfg.poll_seconds)
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor.start()
        if cfg.preload_inference:
            threading.Thread(target=inference.preload, name="preload", daemon=True).start()
        yield
        executor.stop()

    app = FastAPI(title="hydratune fine-tuning service", lifespan=lifespan)
    app.state.cfg, app.state.db, app.state.executor = cfg, db, executor
    app.state.data_dir, app.state.config_dir = data_dir, project_root / "conf"
    app.state.models = inference.ModelCache()
    for module in (files, jobs, inference):
        app.include_router(module.router)
    mount_console(app, project_root, data_dir)

    @app.middleware("http")
    async def size_limit(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        uploads = request.url.path in ("/v1/files", "/files")  # the API's and the console's
        limit_mb = cfg.max_upload_mb if uploads else cfg.max_request_mb
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit_mb * (1 << 20) + 65536:
            detail = {"message": f"request body larger than {limit_mb} MB", "code": "too_large"}
            return JSONResponse(error_body(detail), status_code=413)
        return await call_next(request)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(error_body(error.detail), status_code=error.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {}
        param = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        detail = {"message": f"{param}: {first.get('msg', 'invalid request')}", "param": param}
        return JSONResponse(error_body(detail), status_code=400)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
