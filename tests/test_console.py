"""The web console in-process (FastAPI TestClient, SQLite): sign-in cookie flags, CSRF refusal,
the form generated from every method's own schema fields, the dry-run plan, uploads checked as
the API checks them, and another project's job is a 404."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from framework.methods.registry import get_method, method_names
from framework.service.auth import create_key
from framework.service.config import compose_serve_config
from framework.service.console.session import COOKIE
from framework.service.db import Database
from tests.helpers import CONF, ROOT, compose_config
from tests.service_kit import chat_file


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found, html[:500]
    return found.group(1)


def signed_in(app: Any, key: str) -> TestClient:
    client = TestClient(app)
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"api_key": key, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def uploaded(client: TestClient, token: str, name: str, content: bytes) -> str:
    """Upload a training file through the console's form; its file id (from the redirect)."""
    done = client.post(
        "/files",
        data={"csrf_token": token},
        files={"file": (name, content)},
        follow_redirects=False,
    )
    return str(done.headers["location"].split("file=")[1])


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from framework.service.app import create_app

    compose_config([])  # registers the train schemas and plugin methods, as serve.py does
    data_dir = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{data_dir / 'hydratune.db'}"
    cfg = compose_serve_config(CONF, [f"data_dir={data_dir}", f"database_url={url}"])
    db = Database(url)
    app = create_app(cfg, db, ROOT)  # no lifespan: the executor does not start here
    keys = {p: create_key(db, p)[1] for p in ("teamA", "teamB")}
    yield {"app": app, "db": db, "keys": keys, "data_dir": data_dir}


def test_sign_in_sets_an_httponly_samesite_cookie(console: dict[str, Any]) -> None:
    client = TestClient(console["app"])
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"api_key": console["keys"]["teamA"], "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert console["keys"]["teamA"] not in cookie  # the key itself never goes into the cookie
    jobs = client.get("/")
    assert jobs.status_code == 200 and '<strong id="project-name">teamA</strong>' in jobs.text

    wrong = TestClient(console["app"])
    page = wrong.get("/login")
    refused = wrong.post("/login", data={"api_key": "sk-ht-nope", "csrf_token": csrf_of(page.text)})
    assert refused.status_code == 401 and "Incorrect or revoked API key" in refused.text
    forged = TestClient(console["app"])
    value = cookie.split(";")[0].split("=", 1)[1]
    forged.cookies.set(COOKIE, value[:-1] + ("1" if value.endswith("0") else "0"))
    assert forged.get("/", follow_redirects=False).status_code == 303  # bad signature


def test_forms_without_the_csrf_token_are_refused(console: dict[str, Any]) -> None:
    client = signed_in(console["app"], console["keys"]["teamA"])
    no_login_token = TestClient(console["app"]).post("/login", data={"api_key": "x"})
    assert no_login_token.status_code == 403
    for path, data in (
        ("/new", {"model": "tiny", "action": "create"}),
        ("/new", {"model": "tiny", "action": "create", "csrf_token": "0" * 64}),
        ("/logout", {}),
        ("/jobs/ftjob-x/cancel", {}),
    ):
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == 403, (path, response.text[:300])
        assert "CSRF token" in response.text
    upload = client.post("/files", files={"file": ("a.jsonl", b"{}\n")})
    assert upload.status_code == 403
    # the same session with its token is accepted
    token = csrf_of(client.get("/new").text)
    out = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303


def test_the_form_offers_every_method_with_its_own_fields(console: dict[str, Any]) -> None:
    client = signed_in(console["app"], console["keys"]["teamA"])
    html = client.get("/new").text
    assert method_names(), "no methods registered"
    for name in method_names():
        config_class = get_method(name).cls.config_class
        assert f'<option value="{name}"' in html
        fieldset = html.split(f'id="method-{name}"', 1)[1].split("</fieldset>", 1)[0]
        own = [f.name for f in dataclasses.fields(config_class) if f.name != "name"]
        for field in own:
            assert f'name="method.{field}"' in fieldset, (name, field)
    # a declared range and a schema default are shown: ia3 is not ranged, prefix is
    prefix = html.split('id="method-prefix"', 1)[1].split("</fieldset>", 1)[0]
    low, high = get_method("prefix").cls.ranges["num_virtual_tokens"]
    assert f"from {low:g} to {high:g}" in prefix
    # run-level defaults are the composed file job's (dataset=file sets max_length=256)
    assert re.search(r'name="dataset.max_length" type="text" inputmode="decimal" value="256"', html)
    assert '<option value="tiny"' in html and '<option value="zero3"' in html


def test_upload_errors_name_lines_and_the_plan_is_the_dry_run(
    console: dict[str, Any], tmp_path: Any
) -> None:
    client = signed_in(console["app"], console["keys"]["teamA"])
    token = csrf_of(client.get("/new").text)
    good = chat_file(tmp_path / "chats.jsonl").read_bytes()
    bad = good + b'{"messages": [{"role": "user", "content": "hi"}]}\n'
    refused = client.post("/files", data={"csrf_token": token}, files={"file": ("bad.jsonl", bad)})
    assert refused.status_code == 400 and 'id="upload-error"' in refused.text
    assert "bad.jsonl:25: the conversation has no assistant message" in refused.text
    file_id = uploaded(client, token, "chats.jsonl", good)
    form = {
        "csrf_token": token,
        "training_file": file_id,
        "model": "tiny",
        "hardware": "cpu",
        "method": "lora",
        "method.r": "4",
        "trainer.max_steps": "3",
        "n_epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "action": "plan",
    }
    plan = client.post("/new", data=form)
    assert plan.status_code == 200
    assert "# hydratune dry run: nothing was loaded" in plan.text
    assert "max_steps=3" in plan.text and "problems: none" in plan.text
    bad_rank = client.post("/new", data={**form, "method.r": "0"})
    assert "method.r=0" in bad_rank.text and "problems" in bad_rank.text
    refused = client.post("/new", data={**form, "action": "create", "n_epochs": "99"})
    assert refused.status_code == 400
    assert "hyperparameters.n_epochs=99 is invalid: an integer from 1 to 50" in refused.text


def test_another_projects_job_is_a_404(console: dict[str, Any], tmp_path: Any) -> None:
    a = signed_in(console["app"], console["keys"]["teamA"])
    token = csrf_of(a.get("/new").text)
    file_id = uploaded(a, token, "c.jsonl", chat_file(tmp_path / "chats.jsonl").read_bytes())
    form = {
        "csrf_token": token,
        "training_file": file_id,
        "model": "tiny",
        "method": "lora",
        "hardware": "cpu",
        "trainer.max_steps": "2",
        "action": "create",
    }
    created = a.post("/new", data=form, follow_redirects=False)
    assert created.status_code == 303, created.text[-2000:]
    job_url = created.headers["location"]
    job_page = a.get(job_url)
    assert job_page.status_code == 200
    assert f'id="training-data">file <code>{file_id}</code>' in job_page.text
    assert job_url.split("/")[-1] in a.get("/").text
    b = signed_in(console["app"], console["keys"]["teamB"])
    for path in (job_url, job_url + "/metrics", job_url + "/chat", job_url + "/adapter.zip"):
        response = b.get(path)
        assert response.status_code == 404 and "No such fine-tuning job" in response.text, path
    b_token = csrf_of(b.get("/new").text)
    cancel = b.post(job_url + "/cancel", data={"csrf_token": b_token})
    assert cancel.status_code == 404
    assert job_url.split("/")[-1] not in b.get("/").text
    cancelled = a.post(job_url + "/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert cancelled.status_code == 303
    assert "cancelled" in a.get(job_url).text


def test_the_form_offers_dataset_presets_and_plans_and_starts_a_preset_job(
    console: dict[str, Any],
) -> None:
    from framework.service.job_requests import dataset_presets

    client = signed_in(console["app"], console["keys"]["teamA"])
    html = client.get("/new").text
    choice = html.split('<fieldset id="data-choice"', 1)[1].split("</fieldset>", 1)[0]
    assert "<legend>Training data</legend>" in choice
    assert '<label for="data-source-file">Upload a file</label>' in choice
    assert '<label for="data-source-preset">Use a dataset preset</label>' in choice
    select = choice.split('<select id="dataset" name="dataset"', 1)[1].split("</select>", 1)[0]
    offered = re.findall(r'<option value="([^"]+)"', select)
    # the console's jobs are supervised: every file-free preset but the preference ones
    assert offered == [p for p in dataset_presets(CONF) if p != "chatterbot_prefs"]
    assert "chatterbot" in offered
    assert "file" not in offered and "jsonl" not in offered
    # the description is the preset file's first comment line
    assert "chatterbot: English prompt/response pairs of chatterbot-corpus" in select

    token = csrf_of(html)
    form = {
        "csrf_token": token,
        "data_source": "preset",
        "dataset": "chatterbot",
        "training_file": "file-not-sent",  # the file input of the other choice is not used
        "model": "tiny",
        "hardware": "cpu",
        "method": "lora",
        "trainer.max_steps": "3",
        "seed": "11",
        "action": "plan",
    }
    plan = client.post("/new", data=form)
    assert plan.status_code == 200
    assert "train.py model=tiny dataset=chatterbot method=lora hardware=cpu" in plan.text
    assert "dataset.path" not in plan.text.split("# hydratune dry run", 1)[0]
    assert "source: chatterbot" in plan.text and "problems: none" in plan.text
    forged = client.post("/new", data={**form, "data_source": "disk"})
    assert forged.status_code == 400 and "data_source=&#39;disk&#39; is not one of" in forged.text
    unknown = client.post("/new", data={**form, "dataset": "jsonl", "action": "create"})
    assert unknown.status_code == 400
    assert "hydratune.dataset=&#39;jsonl&#39; is not a dataset preset" in unknown.text

    created = client.post("/new", data={**form, "action": "create"}, follow_redirects=False)
    assert created.status_code == 303, created.text[-2000:]
    page = client.get(created.headers["location"])
    assert 'id="training-data">dataset preset <code>chatterbot</code>' in page.text
    assert "Dataset preset chatterbot: no file to validate" in page.text
    cancel = client.post(
        created.headers["location"] + "/cancel", data={"csrf_token": token}, follow_redirects=False
    )
    assert cancel.status_code == 303
