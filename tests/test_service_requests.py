"""The service's request checks, in-process (openai client over FastAPI's TestClient): bad
files, hyperparameters, overrides and models are 400s naming the key; keys and projects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from framework.service.auth import create_key, key_hash, revoke_key
from framework.service.config import compose_serve_config
from framework.service.db import ApiKey, Database
from framework.service.progress import metric_rows
from tests.helpers import CONF, ROOT, compose_config
from tests.postgres_kit import postgres_cluster
from tests.service_kit import TINY_JOB, chat_file


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.e2e)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Each test runs against an SQLite file and against a fresh PostgreSQL cluster."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'hydratune.db'}"
        return
    with postgres_cluster() as url:
        yield url


@pytest.fixture(scope="module")
def service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    from framework.service.app import create_app

    compose_config([])  # registers the train schemas and plugin methods, as serve.py does
    data_dir = tmp_path_factory.mktemp("service")
    cfg = compose_serve_config(CONF, [f"data_dir={data_dir}", f"database_url={database_url}"])
    db = Database(database_url)
    app = create_app(cfg, db, ROOT)  # no lifespan: the executor does not start here
    http = TestClient(app)
    keys = {p: create_key(db, p)[1] for p in ("teamA", "teamB")}
    clients = {
        p: openai.OpenAI(base_url="http://testserver/v1", api_key=k, http_client=http)
        for p, k in keys.items()
    }
    yield {"db": db, "clients": clients, "keys": keys, "data_dir": data_dir, "http": http}


@pytest.fixture(scope="module")
def uploaded(service: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = chat_file(tmp_path_factory.mktemp("data") / "chats.jsonl")
    return service["clients"]["teamA"].files.create(file=path.open("rb"), purpose="fine-tune")


def test_upload_lists_and_returns_content(service: dict[str, Any], uploaded: Any) -> None:
    client = service["clients"]["teamA"]
    assert uploaded.object == "file" and uploaded.purpose == "fine-tune"
    assert uploaded.id in [f.id for f in client.files.list()]
    assert client.files.retrieve(uploaded.id).filename == "chats.jsonl"
    assert client.files.content(uploaded.id).text.count("\n") == 24


def test_bad_row_refuses_upload_naming_file_and_line(
    service: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n{"messages": 3\n')
    with pytest.raises(openai.BadRequestError) as caught:
        service["clients"]["teamA"].files.create(file=bad.open("rb"), purpose="fine-tune")
    message = caught.value.body["message"]
    assert "bad.jsonl:" in message and str(tmp_path) not in message, message


def test_bad_hyperparameters_name_the_key(service: dict[str, Any], uploaded: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        service["clients"]["teamA"].fine_tuning.jobs.create(
            model="tiny", training_file=uploaded.id, hyperparameters={"n_epochs": 0}
        )
    assert caught.value.body["param"] == "hyperparameters.n_epochs"


def test_bad_override_is_400_with_the_cli_message(service: dict[str, Any], uploaded: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        service["clients"]["teamA"].fine_tuning.jobs.create(
            model="tiny",
            training_file=uploaded.id,
            extra_body={"hydratune": {"method": "lora", "overrides": ["method.rnk=8"]}},
        )
    assert "method.rnk" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        service["clients"]["teamA"].fine_tuning.jobs.create(
            model="tiny", training_file=uploaded.id, extra_body={"hydratune": {"method": "lorra"}}
        )
    assert "lorra" in caught.value.body["message"] and "lora" in caught.value.body["message"]


def test_service_owned_keys_and_unknown_models_are_refused(
    service: dict[str, Any], uploaded: Any
) -> None:
    client = service["clients"]["teamA"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(
            model="tiny",
            training_file=uploaded.id,
            extra_body={"hydratune": {"overrides": ["hydra.run.dir=/etc"]}},
        )
    assert "hydra.run.dir" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model="gpt-4o", training_file=uploaded.id)
    assert caught.value.body["param"] == "model"


def test_created_job_has_openai_shape_and_another_project_gets_404(
    service: dict[str, Any], uploaded: Any
) -> None:
    a, b = service["clients"]["teamA"], service["clients"]["teamB"]
    job = a.fine_tuning.jobs.create(
        model="tiny",
        training_file=uploaded.id,
        seed=7,
        extra_body={"hydratune": {"overrides": TINY_JOB}},
    )
    assert (job.object, job.status, job.seed) == ("fine_tuning.job", "validating_files", 7)
    assert job.hyperparameters.n_epochs == "auto"
    for call in (
        lambda: b.fine_tuning.jobs.retrieve(job.id),
        lambda: b.fine_tuning.jobs.cancel(job.id),
        lambda: b.fine_tuning.jobs.list_events(job.id),
        lambda: b.files.retrieve(uploaded.id),
        lambda: b.files.content(uploaded.id),
        lambda: b.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert job.id not in [j.id for j in b.fine_tuning.jobs.list()]
    assert a.fine_tuning.jobs.cancel(job.id).status == "cancelled"


def test_pagination_of_jobs(service: dict[str, Any], uploaded: Any) -> None:
    client = service["clients"]["teamA"]
    made = [
        client.fine_tuning.jobs.create(
            model="tiny",
            training_file=uploaded.id,
            extra_body={"hydratune": {"overrides": TINY_JOB}},
        ).id
        for _ in range(3)
    ]
    for job_id in made:
        client.fine_tuning.jobs.cancel(job_id)
    page = client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in page.data] == made[::-1][:2] and page.has_more
    rest = client.fine_tuning.jobs.list(limit=2, after=page.data[-1].id)
    assert rest.data[0].id == made[0]
    every = [j.id for j in client.fine_tuning.jobs.list(limit=1)]  # auto-paging iterator
    assert every[:3] == made[::-1]


def test_keys_are_hashed_and_revocable(service: dict[str, Any]) -> None:
    db: Database = service["db"]
    key_id, key = create_key(db, "teamC")
    with db.session() as session:
        stored = [tuple(r) for r in session.execute(sa.select(ApiKey.__table__)).all()]
    assert key not in str(stored) and key_hash(key) in str(stored)
    http = service["http"]
    client = openai.OpenAI(base_url="http://testserver/v1", api_key=key, http_client=http)
    assert client.fine_tuning.jobs.list().data == []
    assert revoke_key(db, key_id)
    with pytest.raises(openai.AuthenticationError):
        client.fine_tuning.jobs.list()
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url="http://testserver/v1", api_key="sk-wrong", http_client=service["http"]
        ).models.list()


def test_metric_rows_become_openai_steps(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/metrics.csv").write_text(
        "epoch,step,train/loss,val/loss\n0,0,,2.5\n0,0,2.0,\n0,1,1.5,\n0,2,1."
    )
    rows = metric_rows(tmp_path)  # the half-written last row is left for later
    assert rows == [
        {"kind": "val", "step": 0, "valid_loss": 2.5},
        {"kind": "train", "step": 1, "train_loss": 2.0},
        {"kind": "train", "step": 2, "train_loss": 1.5},
    ]


def test_serve_config_names_bad_keys() -> None:
    from framework.errors import UserError

    with pytest.raises(UserError, match="slots"):
        compose_serve_config(CONF, ["slots=0"])
    with pytest.raises(UserError, match="Did you mean 'slots'"):
        compose_serve_config(CONF, ["slotz=2"])
    assert compose_serve_config(CONF, ["+admin=list_keys"]).admin == "list_keys"


def test_pause_resume_cancel_of_a_waiting_job(service: dict[str, Any], uploaded: Any) -> None:
    client = service["clients"]["teamA"]
    job = client.fine_tuning.jobs.create(
        model="tiny", training_file=uploaded.id, extra_body={"hydratune": {"overrides": TINY_JOB}}
    )
    assert client.fine_tuning.jobs.pause(job.id).status == "paused"
    assert client.fine_tuning.jobs.resume(job.id).status == "queued"
    with pytest.raises(openai.BadRequestError):
        client.fine_tuning.jobs.resume(job.id)  # only a paused job resumes
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    messages = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert messages[0] == "Job cancelled" and "Job paused" in messages


def test_request_size_limits(service: dict[str, Any], uploaded: Any) -> None:
    client = service["clients"]["teamA"]
    with pytest.raises(openai.APIStatusError) as caught:
        client.fine_tuning.jobs.create(
            model="tiny", training_file=uploaded.id, suffix="x" * (2 << 20)
        )
    assert caught.value.status_code == 413


def _create(service: dict[str, Any], body: dict[str, Any]) -> Any:
    """POST /v1/fine_tuning/jobs as any HTTP client sends it (the openai client cannot omit
    training_file)."""
    headers = {"Authorization": f"Bearer {service['keys']['teamA']}"}
    return service["http"].post("/v1/fine_tuning/jobs", json=body, headers=headers)


def test_a_job_on_a_dataset_preset(service: dict[str, Any], uploaded: Any) -> None:
    from framework.service.db import Job

    client = service["clients"]["teamA"]
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file="",  # the openai client requires the argument: empty means none
        seed=5,
        extra_body={"hydratune": {"dataset": "chatterbot", "overrides": TINY_JOB}},
    )
    assert (job.training_file, job.status) == (None, "queued")  # no file to validate
    assert job.hydratune["dataset"] == "chatterbot" and job.hydratune["model"] == "tiny"
    assert client.fine_tuning.jobs.retrieve(job.id).hydratune["dataset"] == "chatterbot"
    with service["db"].session() as session:
        row = session.execute(sa.select(Job).where(Job.id == job.id)).scalar_one()
    assert row.dataset_preset == "chatterbot" and row.training_file is None
    assert row.overrides[:2] == ["model=tiny", "dataset=chatterbot"]
    assert not [o for o in row.overrides if o.startswith(("dataset.path", "dataset=file"))]
    assert "run.seed=5" in row.overrides and "trainer.max_steps=4" in row.overrides
    assert "dataset" not in row.hydratune  # the preset lives in its column only
    events = [e.message for e in client.fine_tuning.jobs.list_events(job.id)]
    assert events == ["Dataset preset chatterbot: no file to validate, moving job to queued state"]
    assert client.fine_tuning.jobs.cancel(job.id).status == "cancelled"
    on_file = client.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id)
    assert on_file.training_file == uploaded.id and on_file.hydratune["dataset"] is None
    client.fine_tuning.jobs.cancel(on_file.id)


def test_training_file_xor_dataset_preset(service: dict[str, Any], uploaded: Any) -> None:
    from framework.service.job_requests import dataset_presets

    allowed = dataset_presets(CONF)
    assert "chatterbot" in allowed and "fortunes" in allowed
    assert "file" not in allowed and "jsonl" not in allowed  # they need a dataset.path
    listed = "(allowed: " + ", ".join(allowed)
    cases = {
        "both": (
            {"training_file": uploaded.id, "hydratune": {"dataset": "chatterbot"}},
            "hydratune.dataset",
            "give either training_file or hydratune.dataset, not both",
        ),
        "neither": ({}, "training_file", "'training_file' is required, or a dataset preset in "),
        "unknown": (
            {"hydratune": {"dataset": "chatterbott"}},
            "hydratune.dataset",
            "hydratune.dataset='chatterbott' is not a dataset preset a job can train on",
        ),
        "needs a path": (
            {"hydratune": {"dataset": "jsonl"}},
            "hydratune.dataset",
            "hydratune.dataset='jsonl' is not a dataset preset a job can train on",
        ),
    }
    for case, (extra, param, message) in cases.items():
        response = _create(service, {"model": "tiny", **extra})
        assert response.status_code == 400, (case, response.text)
        error = response.json()["error"]
        assert error["param"] == param and error["type"] == "invalid_request_error", case
        assert error["message"].startswith(message), (case, error["message"])
        if case != "both":
            assert listed in error["message"], (case, error["message"])


def test_a_preset_job_is_checked_as_train_py_checks_it(service: dict[str, Any]) -> None:
    refused = _create(
        service,
        {"model": "tiny", "hydratune": {"dataset": "chatterbot", "overrides": ["dataset.limit=1"]}},
    )
    assert refused.status_code == 400
    assert "dataset.limit=1 is out of range (2 to " in refused.json()["error"]["message"]
    swapped = _create(
        service,
        {"model": "tiny", "hydratune": {"dataset": "chatterbot", "overrides": ["dataset=file"]}},
    )
    assert swapped.status_code == 400
    error = swapped.json()["error"]
    assert error["param"] == "hydratune.overrides"
    assert "'dataset' is chosen by training_file or hydratune.dataset" in error["message"]
