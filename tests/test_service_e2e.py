"""The service end to end: serve.py on 127.0.0.1, the real openai client, real train.py jobs:
upload, train, events, checkpoints, chat, isolation, cancel, kill -9 and restart."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.postgres_kit import postgres_cluster
from tests.service_kit import (
    TINY_JOB,
    Server,
    chat_file,
    create_key,
    dpo_file,
    finished,
    job_pids,
    kill_job_groups,
    wait_for,
)

pytestmark = pytest.mark.e2e  # serve.py and its train.py jobs are subprocesses


def _client(server: Server, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """serve.py on a fresh PostgreSQL cluster (the kill -9 test below uses SQLite)."""
    with postgres_cluster() as url:
        yield from _served(tmp_path_factory.mktemp("served"), url)


def _served(data_dir: Path, url: str) -> Iterator[dict[str, Any]]:
    keys = {p: create_key(data_dir, p, f"database_url={url}") for p in ("teamA", "teamB")}
    server = Server(data_dir, ("slots=1", f"database_url={url}")).start()
    a, b = (_client(server, keys[p]) for p in ("teamA", "teamB"))
    upload = chat_file(data_dir / "chats.jsonl").open("rb")
    training = a.files.create(file=upload, purpose="fine-tune")
    try:
        yield {"server": server, "a": a, "b": b, "file": training, "data_dir": data_dir}
    finally:
        pids = job_pids(data_dir, url)
        server.stop()
        kill_job_groups(pids)


def test_upload_train_events_checkpoints_chat(served: dict[str, Any]) -> None:
    a, b = served["a"], served["b"]
    job = a.fine_tuning.jobs.create(
        model="tiny",
        training_file=served["file"].id,
        seed=3,
        suffix="sums",
        extra_body={"hydratune": {"method": "lora", "overrides": TINY_JOB}},
    )
    job = finished(a, job.id)
    assert job.status == "succeeded", job.error
    assert job.fine_tuned_model == f"ft:tiny:teamA:sums:{job.id}" and job.trained_tokens
    run_dir = Path(job.hydratune["run_dir"])
    assert (run_dir / "adapter").is_dir() and (run_dir / "metrics.json").is_file()

    events = list(a.fine_tuning.jobs.list_events(job.id, limit=100))
    steps = sorted(e.data["step"] for e in events if e.type == "metrics" and "train_loss" in e.data)
    assert steps == [1, 2, 3, 4]
    messages = [e.message for e in events]
    assert messages[0] == "The job has successfully completed"
    assert messages[-1].startswith("Validating training file")
    page = a.fine_tuning.jobs.list_events(job.id, limit=3)
    assert len(page.data) == 3 and page.has_more

    checkpoints = a.fine_tuning.jobs.checkpoints.list(job.id).data
    assert sorted(c.step_number for c in checkpoints) == [2, 4]
    assert all(c.metrics.train_loss is not None for c in checkpoints)

    assert job.fine_tuned_model in [m.id for m in a.models.list()]
    assert job.fine_tuned_model not in [m.id for m in b.models.list()]
    reply = a.chat.completions.create(
        model=job.fine_tuned_model,
        messages=[{"role": "user", "content": "What is 3 plus one?"}],
        max_tokens=4,
        temperature=0,
    )
    assert reply.object == "chat.completion" and reply.usage.completion_tokens >= 1
    chunks = list(
        a.chat.completions.create(
            model=job.fine_tuned_model,
            messages=[{"role": "user", "content": "What is 3 plus one?"}],
            max_tokens=4,
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == reply.choices[0].message.content

    for call in (
        lambda: b.fine_tuning.jobs.retrieve(job.id),
        lambda: b.fine_tuning.jobs.checkpoints.list(job.id),
        lambda: b.chat.completions.create(
            model=job.fine_tuned_model, messages=[{"role": "user", "content": "hi"}]
        ),
    ):
        with pytest.raises(openai.NotFoundError):
            call()


def test_a_job_on_a_dataset_preset_trains(served: dict[str, Any]) -> None:
    a = served["a"]
    job = a.fine_tuning.jobs.create(
        model="tiny",
        training_file="",  # none: the job trains on the chatterbot preset
        seed=3,
        extra_body={"hydratune": {"dataset": "chatterbot", "overrides": TINY_JOB}},
    )
    assert (job.status, job.training_file) == ("queued", None)
    job = finished(a, job.id)
    assert job.status == "succeeded", job.error
    assert job.training_file is None and job.hydratune["dataset"] == "chatterbot"
    run_dir = Path(job.hydratune["run_dir"])
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert "source: chatterbot" in config and "path: null" in config
    assert (run_dir / "adapter").is_dir() and job.trained_tokens
    events = list(a.fine_tuning.jobs.list_events(job.id, limit=100))
    steps = sorted(e.data["step"] for e in events if e.type == "metrics" and "train_loss" in e.data)
    assert steps == [1, 2, 3, 4]
    messages = [e.message for e in events]
    assert (
        messages[-1] == "Dataset preset chatterbot: no file to validate, moving job to queued state"
    )
    assert not any(m.startswith("Validating training file") for m in messages)
    assert sorted(c.step_number for c in a.fine_tuning.jobs.checkpoints.list(job.id).data) == [2, 4]


def test_a_dpo_job_trains_task_dpo_with_its_beta(served: dict[str, Any]) -> None:
    a = served["a"]
    upload = dpo_file(served["data_dir"] / "pairs.jsonl").open("rb")
    pairs = a.files.create(file=upload, purpose="fine-tune")
    job = a.fine_tuning.jobs.create(
        model="tiny",
        training_file=pairs.id,
        seed=3,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.25}}},
        extra_body={"hydratune": {"method": "lora", "overrides": TINY_JOB}},
    )
    assert job.method.type == "dpo" and job.method.dpo.hyperparameters.beta == 0.25
    job = finished(a, job.id)
    assert job.status == "succeeded", job.error
    assert job.method.dpo.hyperparameters.beta == 0.25 and job.trained_tokens
    run_dir = Path(job.hydratune["run_dir"])
    config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
    assert config["task"]["name"] == "dpo" and config["task"]["preference"]["beta"] == 0.25
    assert config["dataset"]["format"] == "preference"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # before training the policy is the reference: every implicit reward 0, ties count half
    assert metrics["val_reward_accuracy_before"] == 0.5
    assert 0.0 <= metrics["val_reward_accuracy_after"] <= 1.0
    assert metrics["val_reward_margin_after"] != metrics["val_reward_margin_before"] == 0.0
    assert (run_dir / "adapter").is_dir()
    events = list(a.fine_tuning.jobs.list_events(job.id, limit=100))
    steps = sorted(e.data["step"] for e in events if e.type == "metrics" and "train_loss" in e.data)
    assert steps == [1, 2, 3, 4]
    validations = [e.data for e in events if e.type == "metrics" and "valid_loss" in e.data]
    assert validations and all("valid_reward_accuracy" in v for v in validations)
    assert [e.message for e in events][-1] == "Validating training file: pairs.jsonl"


def test_cancel_checkpoints_then_cancels(served: dict[str, Any]) -> None:
    a = served["a"]
    long_job = [o for o in TINY_JOB if not o.startswith("trainer.max_steps")]
    job = a.fine_tuning.jobs.create(
        model="tiny",
        training_file=served["file"].id,
        extra_body={"hydratune": {"overrides": [*long_job, "trainer.max_steps=400"]}},
    )
    wait_for(
        lambda: any(e.type == "metrics" for e in a.fine_tuning.jobs.list_events(job.id).data),
        180,
        "the first training step",
    )
    assert a.fine_tuning.jobs.cancel(job.id).status == "running"  # until the checkpoint lands
    job = finished(a, job.id, timeout=120)
    assert job.status == "cancelled" and job.finished_at
    run_dir = Path(job.hydratune["run_dir"])
    assert "preempted by SIGTERM" in (run_dir / "train.log").read_text()
    assert not (run_dir / "metrics.json").exists()
    assert a.fine_tuning.jobs.checkpoints.list(job.id).data  # the preemption checkpoint
    with pytest.raises(openai.BadRequestError):
        a.fine_tuning.jobs.cancel(job.id)


def adapter(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))


def test_kill_9_and_restart_resumes_once_with_the_same_adapter(tmp_path: Path) -> None:
    """Two identical jobs; the server and one job's processes are killed -9 after its first
    checkpoint (a crash), the other job keeps running unsupervised. After a restart both
    finish once, and the crashed one's adapter equals the uninterrupted one's."""
    key = create_key(tmp_path, "teamA")
    server = Server(tmp_path, ("slots=2", "max_running_per_project=2")).start()
    try:
        client = _client(server, key)
        data = chat_file(tmp_path / "c.jsonl").open("rb")
        upload = client.files.create(file=data, purpose="fine-tune")
        steps = [o for o in TINY_JOB if not o.startswith(("trainer.max_steps", "run.checkpoint"))]
        body = {
            "overrides": [
                *steps,
                "trainer.max_steps=8",
                "run.checkpoint_every_n_steps=4",
                "method.dropout=0.1",
            ]
        }
        straight, crashed = (
            client.fine_tuning.jobs.create(
                model="tiny", training_file=upload.id, seed=11, extra_body={"hydratune": body}
            )
            for _ in range(2)
        )
        wait_for(
            lambda: client.fine_tuning.jobs.checkpoints.list(crashed.id).data,
            180,
            "the first checkpoint",
            interval=0.2,
        )
        crashed_run = Path(client.fine_tuning.jobs.retrieve(crashed.id).hydratune["run_dir"])
        pids = job_pids(tmp_path)
        server.kill()
        crashed_pid = [p for p in pids if str(crashed_run.parent) in _cmdline(p)]
        kill_job_groups(crashed_pid)
        assert not (crashed_run / "metrics.json").exists(), "the job finished before the crash"

        server = Server(tmp_path, server.args, port=server.port).start()
        client = _client(server, key)
        jobs = {j.id: finished(client, j.id) for j in (straight, crashed)}
        assert {j.status for j in jobs.values()} == {"succeeded"}, [j.error for j in jobs.values()]
        assert len(client.fine_tuning.jobs.list().data) == 2
        log = (crashed_run / "train.log").read_text()
        assert "resuming from" in log
        messages = [e.message for e in client.fine_tuning.jobs.list_events(crashed.id, limit=100)]
        assert any("Server restarted" in m for m in messages)
        assert sum(m == "Fine-tuning job started" for m in messages) == 1
        assert sum(m == "The job has successfully completed" for m in messages) == 1
        train_steps = [
            e.data["step"]
            for e in client.fine_tuning.jobs.list_events(crashed.id, limit=100)
            if e.type == "metrics" and "train_loss" in e.data
        ]
        assert sorted(train_steps) == list(range(1, 9))  # each step reported once
        a = adapter(Path(jobs[straight.id].hydratune["run_dir"]))
        b = adapter(crashed_run)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
        assert client.files.content(upload.id).text == (tmp_path / "c.jsonl").read_text()
    finally:
        pids = job_pids(tmp_path)
        server.stop()
        kill_job_groups(pids)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""
