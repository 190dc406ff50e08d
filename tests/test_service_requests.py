"""The service's request checks, in-process (openai client over FastAPI's TestClient): bad
files, hyperparameters, overrides and models are 400s naming the key; keys and projects."""

from __future__ import annotations

import json
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
from tests.service_kit import TINY_JOB, chat_file, dpo_file, preference_row


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


# --- method.type=dpo ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pairs(service: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An uploaded file in OpenAI's preference layout."""
    path = dpo_file(tmp_path_factory.mktemp("pairs") / "pairs.jsonl")
    return service["clients"]["teamA"].files.create(file=path.open("rb"), purpose="fine-tune")


def _job_row(service: dict[str, Any], job_id: str) -> Any:
    from framework.service.db import Job

    with service["db"].session() as session:
        return session.execute(sa.select(Job).where(Job.id == job_id)).scalar_one()


def dpo(**hyperparameters: Any) -> dict[str, Any]:
    """OpenAI's `method` of a DPO job."""
    return {"type": "dpo", "dpo": {"hyperparameters": hyperparameters}}


def test_a_dpo_job_runs_task_dpo_with_its_beta_and_echoes_the_method(
    service: dict[str, Any], pairs: Any, uploaded: Any
) -> None:
    from framework.config.schema import PreferenceConfig

    client = service["clients"]["teamA"]
    job = client.fine_tuning.jobs.create(
        model="tiny",
        training_file=pairs.id,
        method=dpo(beta=0.25, n_epochs=2),
        extra_body={"hydratune": {"overrides": TINY_JOB}},
    )
    assert job.status == "validating_files" and job.method.type == "dpo"
    assert job.method.dpo.hyperparameters.beta == 0.25
    assert job.method.dpo.hyperparameters.n_epochs == 2 == job.hyperparameters.n_epochs
    assert job.method.dpo.hyperparameters.batch_size == "auto"
    line = _job_row(service, job.id).overrides
    for expected in ("task=dpo", "dataset.format=preference", "task.preference.beta=0.25"):
        assert expected in line, line
    assert client.fine_tuning.jobs.retrieve(job.id).method.dpo.hyperparameters.beta == 0.25
    listed = next(j for j in client.fine_tuning.jobs.list() if j.id == job.id)
    assert listed.method.type == "dpo" and listed.method.dpo.hyperparameters.beta == 0.25
    client.fine_tuning.jobs.cancel(job.id)
    # beta "auto": the run's own beta (the task preset's), shown resolved
    auto = client.fine_tuning.jobs.create(
        model="tiny", training_file=pairs.id, method={"type": "dpo"}
    )
    assert auto.method.dpo.hyperparameters.beta == PreferenceConfig().beta
    assert not [o for o in _job_row(service, auto.id).overrides if "beta" in o]
    client.fine_tuning.jobs.cancel(auto.id)
    supervised = client.fine_tuning.jobs.create(model="tiny", training_file=uploaded.id)
    assert supervised.method.type == "supervised" and supervised.method.dpo is None
    assert "task=dpo" not in _job_row(service, supervised.id).overrides
    client.fine_tuning.jobs.cancel(supervised.id)


BETA = "method.dpo.hyperparameters.beta"
BAD_METHODS = {
    "beta zero": (dpo(beta=0), BETA, "method.dpo.hyperparameters.beta=0 is invalid: a number "),
    "beta negative": (dpo(beta=-1.5), BETA, "beta=-1.5 is invalid"),
    "beta at the top": (dpo(beta=100), BETA, "beta=100 is invalid"),
    "beta a word": (dpo(beta="high"), BETA, "beta='high' is invalid"),
    "beta a boolean": (dpo(beta=True), BETA, "beta=True is invalid"),
    "beta a list": (dpo(beta=[0.1]), BETA, "beta=[0.1] is invalid"),
    "unknown type": (
        {"type": "reinforcement"},
        "method.type",
        "method.type='reinforcement' is not supported (allowed: supervised, dpo)",
    ),
    "type not a string": ({"type": 3}, "method.type", "(allowed: supervised, dpo)"),
    "method not an object": ("dpo", "method", "method must be an object"),
    "beta for supervised": (
        {"type": "supervised", "supervised": {"hyperparameters": {"beta": 0.1}}},
        "method.supervised.hyperparameters",
        "unknown hyperparameters ['beta'] (allowed: n_epochs, batch_size, "
        "learning_rate_multiplier)",
    ),
    "unknown dpo hyperparameter": (
        dpo(gamma=1),
        "method.dpo.hyperparameters",
        "unknown hyperparameters ['gamma'] (allowed: n_epochs, batch_size, "
        "learning_rate_multiplier, beta)",
    ),
    "another type's settings": (
        {"type": "dpo", "supervised": {}},
        "method",
        "method: ['supervised'] do not apply to method.type=dpo",
    ),
    "dpo n_epochs out of range": (
        dpo(n_epochs=0),
        "method.dpo.hyperparameters.n_epochs",
        "n_epochs=0 is invalid: an integer from 1 to 50",
    ),
}


def test_bad_methods_and_betas_are_400_naming_the_key(service: dict[str, Any], pairs: Any) -> None:
    for case, (method, param, message) in BAD_METHODS.items():
        response = _create(service, {"model": "tiny", "training_file": pairs.id, "method": method})
        assert response.status_code == 400, (case, response.text)
        error = response.json()["error"]
        assert error["param"] == param, (case, error)
        assert message in error["message"], (case, error["message"])
        if param == BETA:
            assert "greater than 0 and below 100, or 'auto'" in error["message"], case


def test_a_beta_given_twice_or_another_task_is_refused(
    service: dict[str, Any], pairs: Any, uploaded: Any
) -> None:
    twice = _create(
        service,
        {
            "model": "tiny",
            "training_file": pairs.id,
            "method": dpo(beta=0.3),
            "hydratune": {"overrides": ["task.preference.beta=0.5"]},
        },
    )
    assert twice.status_code == 400
    assert twice.json()["error"]["param"] == "hydratune.overrides"
    assert (
        "sets task.preference.beta, which method.dpo.hyperparameters.beta=0.3 sets too"
        in (twice.json()["error"]["message"])
    )
    orpo = _create(
        service,
        {
            "model": "tiny",
            "training_file": pairs.id,
            "method": dpo(),
            "hydratune": {"overrides": ["task=orpo"]},
        },
    )
    assert orpo.status_code == 400 and orpo.json()["error"]["param"] == "hydratune.overrides"
    assert orpo.json()["error"]["message"] == (
        "hydratune.overrides: 'task' is chosen by method.type=dpo (task=dpo), not by an override"
    )
    sneaked = _create(
        service,
        {
            "model": "tiny",
            "training_file": uploaded.id,
            "hydratune": {"overrides": ["task=dpo"]},
        },
    )
    assert sneaked.status_code == 400 and sneaked.json()["error"]["param"] == "method.type"
    assert sneaked.json()["error"]["message"] == (
        "the job would run task=dpo, which method.type=supervised does not run (allowed: "
        "causal_lm, seq_cls, token_cls, qa): use method.type=dpo"
    )


def test_presets_and_files_must_suit_the_method_type(
    service: dict[str, Any], pairs: Any, uploaded: Any
) -> None:
    sft_preset = _create(
        service, {"model": "tiny", "method": dpo(), "hydratune": {"dataset": "chatterbot"}}
    )
    assert sft_preset.status_code == 400
    error = sft_preset.json()["error"]
    assert error["param"] == "hydratune.dataset"
    assert error["message"].startswith(
        "hydratune.dataset='chatterbot' holds dataset.format=chat rows (for method.type="
        "supervised), which method.type=dpo does not train on; its presets: chatterbot_prefs"
    ), error["message"]
    pref_preset = _create(service, {"model": "tiny", "hydratune": {"dataset": "chatterbot_prefs"}})
    assert pref_preset.status_code == 400
    message = pref_preset.json()["error"]["message"]
    assert (
        "'chatterbot_prefs' holds dataset.format=preference rows (for method.type=dpo)" in message
    )
    assert "method.type=supervised does not train on; its presets: chatterbot, " in message
    assert "chatterbot_prefs" not in message.split("its presets:")[1]
    on_preset = _create(
        service,
        {
            "model": "tiny",
            "method": dpo(beta=0.2),
            "hydratune": {"dataset": "chatterbot_prefs", "overrides": TINY_JOB},
        },
    )
    assert on_preset.status_code == 200, on_preset.text
    created = on_preset.json()
    assert created["status"] == "queued" and created["hydratune"]["dataset"] == "chatterbot_prefs"
    assert _job_row(service, created["id"]).overrides[:3] == [
        "model=tiny",
        "dataset=chatterbot_prefs",
        "task=dpo",
    ]
    service["clients"]["teamA"].fine_tuning.jobs.cancel(created["id"])
    chats_for_dpo = _create(
        service, {"model": "tiny", "training_file": uploaded.id, "method": dpo()}
    )
    assert chats_for_dpo.status_code == 400
    error = chats_for_dpo.json()["error"]
    assert (
        error["param"] == "training_file" and "('chats.jsonl') holds chat rows" in error["message"]
    )
    assert "method.type=dpo trains on preference pairs" in error["message"]
    pairs_for_sft = _create(service, {"model": "tiny", "training_file": pairs.id})
    assert pairs_for_sft.status_code == 400
    message = pairs_for_sft.json()["error"]["message"]
    assert "('pairs.jsonl') holds preference pairs" in message and "for method.type=dpo" in message


def _bad(row: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """`row` with the value at `path` replaced (or removed, for None)."""
    import copy

    changed = copy.deepcopy(row)
    node = changed
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return changed


BAD_PAIRS = {
    "no preferred_output": (
        ["preferred_output"],
        None,
        "missing column 'chosen' or 'preferred_output' (for chosen)",
    ),
    "the same reply": (
        ["non_preferred_output", 0, "content"],
        "3",  # row 2's preferred answer (2 plus one)
        "'preferred_output' and 'non_preferred_output' are the same reply (nothing to prefer)",
    ),
    "empty content": (
        ["preferred_output", 0, "content"],
        " ",
        "'preferred_output[0].content' must be a non-empty string",
    ),
    "a user reply": (
        ["non_preferred_output", 0, "role"],
        "user",
        "the last message of 'non_preferred_output' must be the assistant's reply",
    ),
    "an unknown role": (
        ["input", "messages", 0, "role"],
        "robot",
        "input.messages[0].role='robot' is not allowed",
    ),
    "tools": (
        ["input", "tools"],
        [{"type": "function"}],
        "'input.tools': tool definitions are not supported",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PAIRS))
def test_a_bad_preference_row_refuses_the_upload_naming_file_and_line(
    service: dict[str, Any], tmp_path: Path, case: str
) -> None:
    path, value, reason = BAD_PAIRS[case]
    rows = [preference_row(i) for i in range(3)]
    rows[2] = _bad(rows[2], path, value)
    bad = tmp_path / "bad_pairs.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(openai.BadRequestError) as caught:
        service["clients"]["teamA"].files.create(file=bad.open("rb"), purpose="fine-tune")
    message = caught.value.body["message"]
    assert message.startswith(f"bad_pairs.jsonl:3: {reason}"), message
    assert str(tmp_path) not in message and "on_bad_row" not in message


def test_dpo_metrics_become_event_fields(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/metrics.csv").write_text(
        "epoch,step,train/loss,val/loss,val/reward_accuracy,val/reward_margin\n"
        "0,0,,0.6931,0.5,0.0\n0,0,0.69,,,\n0,3,,0.61,0.75,0.125\n"
    )
    assert metric_rows(tmp_path) == [
        {
            "kind": "val",
            "step": 0,
            "valid_loss": 0.6931,
            "valid_reward_accuracy": 0.5,
            "valid_reward_margin": 0.0,
        },
        {"kind": "train", "step": 1, "train_loss": 0.69},
        {
            "kind": "val",
            "step": 3,
            "valid_loss": 0.61,
            "valid_reward_accuracy": 0.75,
            "valid_reward_margin": 0.125,
        },
    ]
