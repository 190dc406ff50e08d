"""Latency of the fine-tuning service's read endpoints with a full database (not a test).

python bench/service_latency.py [--jobs 10000 --events 100000 --clients 50 --requests 3000]
    [--backend sqlite|postgresql|both] [--doc docs/benchmarks.md]

Fills a fresh database (SQLite file, and/or a throwaway PostgreSQL cluster) with --jobs jobs
and --events events through SQLAlchemy, starts `serve.py` on it, and sends --requests requests
per endpoint from --clients concurrent client threads: retrieve a job, list jobs (limit 20,
after a random job), list a job's events (limit 20). p50/p95 latency per endpoint go into the
SERVICE-LATENCY section of the doc (kept by bench/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BEGIN = "<!-- SERVICE-LATENCY:BEGIN (kept verbatim by bench/run_all.py) -->"
END = "<!-- SERVICE-LATENCY:END -->"


def fill(url: str, jobs: int, events: int) -> tuple[str, list[str]]:
    """A key for project bench, and the ids of `jobs` succeeded jobs with `events` events."""
    import sqlalchemy as sa

    from framework.service.auth import create_key
    from framework.service.db import Database, Event, Job

    db = Database(url)
    _, key = create_key(db, "bench")
    ids = [f"ftjob-bench{i:08d}" for i in range(jobs)]
    hp = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    created = int(time.time())
    job_rows = [
        {
            "id": job_id,
            "project": "bench",
            "model": "tiny",
            "training_file": "file-bench",
            "status": "succeeded",
            "hyperparameters": hp,
            "method": {"type": "supervised", "supervised": {"hyperparameters": hp}},
            "hydratune": {"overrides": []},
            "overrides": [],
            "seed": 0,
            "created_at": created,
            "job_dir": f"/nonexistent/{job_id}",
            "launches": 1,
            "last_train_step": 0,
            "last_val_step": 0,
        }
        for job_id in ids
    ]
    with db.engine.begin() as connection:
        for start in range(0, len(job_rows), 2000):
            connection.execute(sa.insert(Job.__table__), job_rows[start : start + 2000])
        batch: list[dict[str, Any]] = []
        for index in range(events):
            batch.append(
                {
                    "job_id": ids[index % jobs],
                    "created_at": created,
                    "level": "info",
                    "type": "metrics",
                    "message": f"Step {index}: training loss=1.0",
                    "data": {"step": index, "train_loss": 1.0},
                }
            )
            if len(batch) == 5000:
                connection.execute(sa.insert(Event.__table__), batch)
                batch = []
        if batch:
            connection.execute(sa.insert(Event.__table__), batch)
    db.engine.dispose()
    return key, ids


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(base: str, key: str, ids: list[str], clients: int, requests: int) -> dict[str, Any]:
    """p50/p95 (ms) and requests/s per endpoint, `clients` threads at once."""
    headers = {"Authorization": f"Bearer {key}"}
    paths = {
        "retrieve job": lambda r: f"/v1/fine_tuning/jobs/{r.choice(ids)}",
        "list jobs": lambda r: f"/v1/fine_tuning/jobs?limit=20&after={r.choice(ids)}",
        "list events": lambda r: f"/v1/fine_tuning/jobs/{r.choice(ids)}/events?limit=20",
    }
    results = {}
    for name, path in paths.items():
        rng = random.Random(0)
        urls = [base + path(rng) for _ in range(requests)]
        http = httpx.Client(
            headers=headers, timeout=60, limits=httpx.Limits(max_connections=clients)
        )

        def one(url: str, http: httpx.Client = http) -> float:
            start = time.perf_counter()
            response = http.get(url)
            response.raise_for_status()
            return time.perf_counter() - start

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            times = sorted(pool.map(one, urls))
        wall = time.perf_counter() - started
        http.close()
        results[name] = {
            "p50_ms": round(1000 * statistics.median(times), 1),
            "p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 1),
            "requests_per_s": round(len(times) / wall, 1),
        }
    return results


def bench_backend(backend: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with ExitStack() as stack:
        data_dir = work / backend
        data_dir.mkdir(parents=True)
        if backend == "postgresql":
            from tests.postgres_kit import postgres_cluster

            url = stack.enter_context(postgres_cluster())
        else:
            url = f"sqlite:///{data_dir / 'hydratune.db'}"
        started = time.perf_counter()
        key, ids = fill(url, args.jobs, args.events)
        fill_s = time.perf_counter() - started
        port = free_port()
        log = (data_dir / "server.log").open("w")
        server = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "serve.py"),
                f"data_dir={data_dir}",
                f"port={port}",
                f"database_url={url}",
                "preload_inference=false",
                "log_level=warning",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        stack.callback(server.wait, 30)
        stack.callback(server.terminate)
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        result = measure(base, key, ids, args.clients, args.requests)
        return {"fill_s": round(fill_s, 1), "endpoints": result}


def markdown(results: dict[str, Any], args: argparse.Namespace) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        BEGIN,
        "## Fine-tuning service: API latency",
        "",
        "```bash",
        f"python bench/service_latency.py --jobs {args.jobs} --events {args.events} "
        f"--clients {args.clients} --requests {args.requests}",
        "```",
        "",
        f"One `serve.py` (uvicorn, one worker) over {args.jobs:,} jobs and {args.events:,} events "
        f"in one project; {args.clients} client threads in one process send {args.requests:,} "
        "GET requests per endpoint (job ids drawn at random). Client and server share the "
        f"machine's {os.cpu_count()} cores; load average at start {load}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| database | endpoint | p50 (ms) | p95 (ms) | requests/s |",
        "|---|---|--:|--:|--:|",
    ]
    for backend, result in results.items():
        for name, row in result["endpoints"].items():
            lines.append(
                f"| {backend} | {name} | {row['p50_ms']} | {row['p95_ms']} | "
                f"{row['requests_per_s']} |"
            )
    lines.append(END)
    return "\n".join(lines)


def write_section(doc: Path, section: str) -> None:
    """Replace the SERVICE-LATENCY section of the doc, or append it."""
    text = doc.read_text() if doc.is_file() else ""
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    doc.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    with tempfile.TemporaryDirectory(prefix="hydratune-bench-") as work:
        results = {b: bench_backend(b, args, Path(work)) for b in backends}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    section = markdown(results, args)
    print(section)
    write_section(args.doc, section)
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
