"""serve.py: compose conf/serve.yaml, then serve the API under uvicorn or run an admin command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.errors import UserError, exit_with
from framework.service.config import compose_serve_config, database_url

ADVISORY_LOCK = 0x48545356  # "HTSV": the PostgreSQL advisory lock a serving process holds


def admin(cfg: DictConfig, url: str) -> None:
    """create_key / revoke_key / list_keys against the configured database."""
    from framework.service.auth import create_key, list_keys, revoke_key
    from framework.service.db import Database

    db = Database(url)
    if cfg.admin == "create_key":
        key_id, key = create_key(db, str(cfg.project))
        print(f"project: {cfg.project}\nkey id:  {key_id}\napi key: {key}")
        print("(shown once: only its hash is stored)", file=sys.stderr)
    elif cfg.admin == "revoke_key":
        if not revoke_key(db, str(cfg.key_id)):
            raise UserError(f"key_id={cfg.key_id}: no such active key (see +admin=list_keys)")
        print(f"revoked {cfg.key_id}")
    else:
        for row in list_keys(db):
            state = "revoked" if row.revoked_at else "active"
            print(f"{row.id}  project={row.project}  ...{row.hint}  {state}")


def hold_single_server(data_dir: Path, db: Any) -> list[Any]:
    """One server per data dir and per database (two executors would run a job twice):
    an exclusive lock on <data_dir>/serve.lock, and on PostgreSQL an advisory lock. The
    returned handles must stay referenced while serving; the OS frees them on any exit."""
    import fcntl

    import sqlalchemy as sa

    handle = (data_dir / "serve.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise UserError(f"another serve.py is running on data_dir={data_dir}") from None
    held: list[Any] = [handle]
    if db.engine.dialect.name == "postgresql":
        connection = db.engine.connect()
        query = sa.text(f"SELECT pg_try_advisory_lock({ADVISORY_LOCK})")
        if not connection.execute(query).scalar():
            raise UserError("another serve.py is running on this database_url")
        held.append(connection)
    return held


def serve(cfg: DictConfig, url: str, project_root: Path) -> None:
    """Register schemas and methods (for the create-time checks), then run uvicorn."""
    import uvicorn

    from framework.config.schema import register_schemas
    from framework.methods.discovery import discover_methods
    from framework.service.app import create_app
    from framework.service.db import Database

    register_schemas()
    discover_methods(project_root / "plugins")
    db = Database(url)
    held = hold_single_server(Path(str(cfg.data_dir)).expanduser().resolve(), db)
    app = create_app(cfg, db, project_root)
    print(f"hydratune service on http://{cfg.host}:{cfg.port} (data: {cfg.data_dir})", flush=True)
    uvicorn.run(app, host=str(cfg.host), port=int(cfg.port), log_level=str(cfg.log_level))
    del held


def run(project_root: Path) -> None:
    """The serve.py entry point."""
    import os

    os.environ.setdefault("HYDRATUNE_ROOT", str(project_root))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        cfg = compose_serve_config(project_root / "conf", sys.argv[1:])
        Path(str(cfg.data_dir)).expanduser().mkdir(parents=True, exist_ok=True)
        url = database_url(cfg)
        if cfg.admin:
            admin(cfg, url)
        else:
            serve(cfg, url, project_root)
    except UserError as error:
        exit_with(error)
