"""The service's Alembic migrations: a database created at 0001 (jobs only on uploaded files)
upgrades to head keeping its rows, and then holds jobs on a dataset preset; SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from framework.service.db import Database, Job, make_engine, migrate
from tests.helpers import ROOT
from tests.postgres_kit import postgres_cluster

OLD_JOB = {
    "id": "ftjob-old",
    "project": "teamA",
    "model": "tiny",
    "training_file": "file-old",
    "status": "succeeded",
    "hyperparameters": "{}",
    "method": "{}",
    "hydratune": '{"model": "tiny"}',
    "overrides": '["model=tiny"]',
    "seed": 1,
    "created_at": 100,
    "job_dir": "/tmp/old",
    "launches": 1,
    "last_train_step": 4,
    "last_val_step": -1,
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.e2e)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hydratune.db'}"
        return
    with postgres_cluster() as url:
        yield url


def _insert(engine: sa.engine.Engine, **changes: object) -> None:
    row = {**OLD_JOB, **changes}
    columns = ", ".join(row)
    with engine.begin() as connection:
        connection.execute(
            sa.text(f"INSERT INTO jobs ({columns}) VALUES ({', '.join(':' + k for k in row)})"),
            row,
        )


def test_a_0001_database_upgrades_and_then_holds_preset_jobs(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate(engine, "0001")
    _insert(engine)
    with pytest.raises(sa.exc.IntegrityError):  # 0001: every job has a training file
        _insert(engine, id="ftjob-none", training_file=None)
    assert "dataset_preset" not in [c["name"] for c in sa.inspect(engine).get_columns("jobs")]
    engine.dispose()

    db = Database(database_url)  # what serve.py does at start: upgrade to head
    inspector = sa.inspect(db.engine)
    columns = {c["name"]: c for c in inspector.get_columns("jobs")}
    assert columns["training_file"]["nullable"] and columns["dataset_preset"]["nullable"]
    indexed = sorted(tuple(i["column_names"]) for i in inspector.get_indexes("jobs"))
    for column in ("fine_tuned_model", "project", "status"):  # kept by the table copy
        assert (column,) in indexed, indexed
    with db.engine.connect() as connection:
        version = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
        assert version.scalar_one() == "0002"
    with db.session() as session:
        old = session.execute(sa.select(Job).where(Job.id == "ftjob-old")).scalar_one()
        assert (old.training_file, old.dataset_preset, old.last_train_step) == ("file-old", None, 4)
        assert old.hydratune == {"model": "tiny"} and old.overrides == ["model=tiny"]
        preset_job = {**OLD_JOB, "id": "ftjob-preset", "training_file": None}
        json_columns = {"hyperparameters": {}, "method": {}, "hydratune": {}, "overrides": []}
        session.add(Job(**{**preset_job, **json_columns, "dataset_preset": "chatterbot"}))
    with db.session() as session:
        new = session.execute(sa.select(Job).where(Job.id == "ftjob-preset")).scalar_one()
        assert (new.training_file, new.dataset_preset) == (None, "chatterbot")
    with pytest.raises(sa.exc.IntegrityError):  # the unique job id survived the table copy
        _insert(db.engine, project="teamB")
    Database(database_url)  # a second start finds nothing to do


def test_downgrade_to_0001_is_refused_while_preset_jobs_exist(tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config

    url = f"sqlite:///{tmp_path / 'hydratune.db'}"
    db = Database(url)
    _insert(db.engine, id="ftjob-preset", training_file=None, dataset_preset="chatterbot")
    config = Config()
    config.set_main_option("script_location", str(ROOT / "framework/service/migrations"))

    def downgrade() -> None:
        with db.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")

    with pytest.raises(RuntimeError, match=r"1 job\(s\) train on a dataset preset"):
        downgrade()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM jobs WHERE id = 'ftjob-preset'"))
    _insert(db.engine)
    downgrade()
    columns = {c["name"]: c for c in sa.inspect(db.engine).get_columns("jobs")}
    assert "dataset_preset" not in columns and not columns["training_file"]["nullable"]
