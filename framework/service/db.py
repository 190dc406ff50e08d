"""The service's state in SQLAlchemy (SQLite file or PostgreSQL): keys, files, jobs, events."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker

Base: Any = declarative_base()


def now() -> int:
    """Unix seconds, as OpenAI's created_at."""
    return int(time.time())


def new_id(prefix: str) -> str:
    """A public object id: prefix plus 24 random url-safe characters."""
    return f"{prefix}-{secrets.token_hex(12)}"


class ApiKey(Base):
    """An API key of a project; only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    seq = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    id = sa.Column(sa.String(64), unique=True, nullable=False)
    project = sa.Column(sa.String(128), nullable=False, index=True)
    key_hash = sa.Column(sa.String(64), unique=True, nullable=False)
    hint = sa.Column(sa.String(16), nullable=False)  # the last characters, to tell keys apart
    created_at = sa.Column(sa.Integer, nullable=False)
    revoked_at = sa.Column(sa.Integer, nullable=True)


class File(Base):
    """An uploaded file (purpose fine-tune), stored under <data_dir>/files."""

    __tablename__ = "files"
    seq = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    id = sa.Column(sa.String(64), unique=True, nullable=False)
    project = sa.Column(sa.String(128), nullable=False, index=True)
    filename = sa.Column(sa.String(512), nullable=False)
    purpose = sa.Column(sa.String(32), nullable=False)
    bytes = sa.Column(sa.BigInteger, nullable=False)
    rows = sa.Column(sa.Integer, nullable=False)
    path = sa.Column(sa.String(1024), nullable=False)
    created_at = sa.Column(sa.Integer, nullable=False)
    deleted = sa.Column(sa.Boolean, nullable=False, default=False)


class Job(Base):
    """A fine-tuning job: a row here plus a run dir on disk."""

    __tablename__ = "jobs"
    seq = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    id = sa.Column(sa.String(64), unique=True, nullable=False)
    project = sa.Column(sa.String(128), nullable=False, index=True)
    model = sa.Column(sa.String(128), nullable=False)
    training_file = sa.Column(sa.String(64), nullable=True)  # null: a dataset preset job
    dataset_preset = sa.Column(sa.String(128), nullable=True)  # conf/dataset/<name>, if no file
    validation_file = sa.Column(sa.String(64), nullable=True)
    status = sa.Column(sa.String(32), nullable=False, index=True)
    hyperparameters = sa.Column(sa.JSON, nullable=False)
    method = sa.Column(sa.JSON, nullable=False)
    hydratune = sa.Column(sa.JSON, nullable=False)  # method/model/overrides as requested
    overrides = sa.Column(sa.JSON, nullable=False)  # the full train.py command line
    suffix = sa.Column(sa.String(64), nullable=True)
    seed = sa.Column(sa.Integer, nullable=False)
    fine_tuned_model = sa.Column(sa.String(256), nullable=True, index=True)
    trained_tokens = sa.Column(sa.Integer, nullable=True)
    error = sa.Column(sa.JSON, nullable=True)
    created_at = sa.Column(sa.Integer, nullable=False)
    finished_at = sa.Column(sa.Integer, nullable=True)
    job_dir = sa.Column(sa.String(1024), nullable=False)
    pid = sa.Column(sa.Integer, nullable=True)  # the running wrapper process, if any
    requested = sa.Column(sa.String(16), nullable=True)  # cancel | pause, until it takes effect
    launches = sa.Column(sa.Integer, nullable=False, default=0)
    last_train_step = sa.Column(sa.Integer, nullable=False, default=-1)  # metrics already events
    last_val_step = sa.Column(sa.Integer, nullable=False, default=-1)


class Event(Base):
    """A job event (message or metrics)."""

    __tablename__ = "events"
    seq = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    job_id = sa.Column(sa.String(64), nullable=False, index=True)
    created_at = sa.Column(sa.Integer, nullable=False)
    level = sa.Column(sa.String(16), nullable=False)
    type = sa.Column(sa.String(16), nullable=False)
    message = sa.Column(sa.Text, nullable=False)
    data = sa.Column(sa.JSON, nullable=True)


class Checkpoint(Base):
    """A checkpoint a job wrote (step-NNNNNN.ckpt in its run dir)."""

    __tablename__ = "checkpoints"
    seq = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    id = sa.Column(sa.String(64), unique=True, nullable=False)
    job_id = sa.Column(sa.String(64), nullable=False, index=True)
    step = sa.Column(sa.Integer, nullable=False)
    metrics = sa.Column(sa.JSON, nullable=False)
    path = sa.Column(sa.String(1024), nullable=False)
    created_at = sa.Column(sa.Integer, nullable=False)
    __table_args__ = (sa.UniqueConstraint("job_id", "step"),)


def make_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL and a busy timeout (threads share it)."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url, future=True, connect_args={"check_same_thread": False, "timeout": 30}
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return sa.create_engine(url, future=True, pool_pre_ping=True, pool_size=10, max_overflow=20)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the newest Alembic revision (or to the one named)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Database:
    """The engine, migrated, and a session factory."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        migrate(self.engine)
        self.sessions = sessionmaker(self.engine, future=True, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed at the end of the block (rolled back on error)."""
        with self.sessions() as session, session.begin():
            yield session

    def add_event(
        self, session: Session, job_id: str, message: str, kind: str = "message", **data: Any
    ) -> None:
        """Append an event to a job."""
        session.add(
            Event(
                job_id=job_id,
                created_at=now(),
                level="info" if kind == "metrics" else data.pop("level", "info"),
                type=kind,
                message=message,
                data=data or None,
            )
        )
