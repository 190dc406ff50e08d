"""Test helpers for the fine-tuning service: start serve.py on a free port, make keys,
train a small chat file, clean up every job process the server started."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import ROOT

# A tiny job: few rows, few steps, a checkpoint every 2 steps.
TINY_JOB = [
    "dataset.limit=32",
    "dataset.val_max_rows=4",
    "dataset.batch_size=4",
    "trainer.max_steps=4",
    "run.checkpoint_every_n_steps=2",
    "optim.lr=0.01",
    "task.generate_rows=0",
]


def chat_file(path: Path, rows: int = 24) -> Path:
    """An OpenAI-format chat fine-tuning file (messages per line)."""
    with path.open("w") as out:
        for i in range(rows):
            messages = [
                {"role": "user", "content": f"What is {i} plus one?"},
                {"role": "assistant", "content": f"{i + 1}"},
            ]
            out.write(json.dumps({"messages": messages}) + "\n")
    return path


def preference_row(i: int) -> dict[str, Any]:
    """One row of OpenAI's preference (DPO) layout: the right sum preferred over a wrong one."""
    return {
        "input": {
            "messages": [{"role": "user", "content": f"What is {i} plus one?"}],
            "tools": [],
            "parallel_tool_calls": True,
        },
        "preferred_output": [{"role": "assistant", "content": f"{i + 1}"}],
        "non_preferred_output": [{"role": "assistant", "content": f"{i + 7}"}],
    }


def dpo_file(path: Path, rows: int = 24) -> Path:
    """An OpenAI-format preference fine-tuning file (input, preferred_output,
    non_preferred_output per line), for method.type=dpo."""
    path.write_text("".join(json.dumps(preference_row(i)) + "\n" for i in range(rows)))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(data_dir: Path, *args: str) -> list[str]:
    return [sys.executable, str(ROOT / "serve.py"), f"data_dir={data_dir}", *args]


def create_key(data_dir: Path, project: str, *args: str) -> str:
    """`python serve.py +admin=create_key project=<project>`: the printed key."""
    out = subprocess.run(
        serve_command(data_dir, "+admin=create_key", f"project={project}", *args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return next(line.split()[-1] for line in out.splitlines() if line.startswith("api key:"))


@dataclass
class Server:
    """A running serve.py."""

    data_dir: Path
    args: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120) -> Server:
        log = (self.data_dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            serve_command(self.data_dir, f"port={self.port}", "poll_seconds=0.3", *self.args),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.data_dir / "server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve.py did not answer /health in time")

    def kill(self) -> None:
        """kill -9 the server only (its jobs run in their own sessions)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def job_pids(data_dir: Path, database_url: str | None = None) -> list[int]:
    """The wrapper pids of jobs the database says are running (SQLite in the data dir)."""
    if database_url is None:
        db = data_dir / "hydratune.db"
        if not db.exists():
            return []
        with sqlite3.connect(db) as connection:
            rows = connection.execute("SELECT pid FROM jobs WHERE pid IS NOT NULL").fetchall()
        return [int(r[0]) for r in rows]
    import sqlalchemy as sa

    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://"))
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT pid FROM jobs WHERE pid IS NOT NULL")).all()
    engine.dispose()
    return [int(r[0]) for r in rows]


def kill_job_groups(pids: list[int]) -> None:
    """SIGKILL the process group (own session) of each job wrapper: the job and its train.py."""
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_for(check: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    """Poll check() until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def finished(client: Any, job_id: str, timeout: float = 240) -> Any:
    """Poll a job until it reaches a terminal status; the job."""

    def done() -> Any:
        job = client.fine_tuning.jobs.retrieve(job_id)
        return job if job.status in ("succeeded", "failed", "cancelled") else None

    return wait_for(done, timeout, f"job {job_id} to finish")
