"""The local executor: train.py subprocesses in slots, progress into events, restart-safe."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from framework.errors import UserError
from framework.service.db import Checkpoint, Database, File, Job, new_id, now
from framework.service.files import check_rows
from framework.service.processes import Running, pid_runs, tail_error
from framework.service.progress import checkpoint_steps, metric_rows

log = logging.getLogger(__name__)


class LocalExecutor:
    """Starts queued jobs up to `slots` (and the per-project limit) as train.py processes."""

    def __init__(
        self,
        db: Database,
        project_root: Path,
        slots: int,
        per_project: int,
        poll_seconds: float,
    ) -> None:
        self.db, self.root = db, project_root
        self.slots, self.per_project, self.poll = slots, per_project, poll_seconds
        self.running: dict[str, Running] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Recover jobs left running by a previous server, then poll in a thread."""
        self.recover()
        self._thread = threading.Thread(target=self._loop, name="executor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop polling. Job processes keep running; the next server adopts them."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # one bad tick must not stop the executor; it is logged
                log.exception("executor tick failed")
            self._wake.wait(self.poll)
            self._wake.clear()

    def recover(self) -> None:
        """Jobs marked running: adopt a live process, finish one that ended, or relaunch it
        in its run dir (resume picks its newest checkpoint): never two processes per job."""
        with self.db.session() as session:
            jobs = list(session.execute(sa.select(Job).where(Job.status == "running")).scalars())
        for job in jobs:
            running = Running(job.id, int(job.pid or 0), Path(job.job_dir))
            if job.pid and pid_runs(int(job.pid), running.job_dir):
                log.info("job %s: adopting its running process %s", job.id, job.pid)
                self.running[job.id] = running
            elif running.exit_code() is not None:
                self.running[job.id] = running  # finished while the server was down
            else:
                with self.db.session() as session:
                    self.db.add_event(
                        session, job.id, "Server restarted: resuming from the newest checkpoint"
                    )
                self._launch(job.id)

    # one pass --------------------------------------------------------------------------------
    def tick(self) -> None:
        self._validate_files()
        for job_id in list(self.running):
            self._watch(self.running[job_id])
        self._start_queued()

    def _validate_files(self) -> None:
        with self.db.session() as session:
            jobs = list(
                session.execute(
                    # a job on a dataset preset has no file: it was queued at creation
                    sa.select(Job).where(
                        Job.status == "validating_files", Job.training_file.is_not(None)
                    )
                ).scalars()
            )
        for job in jobs:
            with self.db.session() as session:
                row = session.execute(
                    sa.select(File).where(File.id == job.training_file)
                ).scalar_one_or_none()
            error = None
            if row is None or row.deleted or not Path(row.path).is_file():
                error = f"training file {job.training_file} is gone"
            else:
                try:
                    check_rows(Path(row.path), row.filename)
                except UserError as bad:
                    error = str(bad)
            with self.db.session() as session:
                current = session.get(Job, job.seq)
                if current is None or current.status != "validating_files":
                    continue
                if error is None:
                    current.status = "queued"
                    message = "Files validated, moving job to queued state"
                    self.db.add_event(session, job.id, message)
                else:
                    self._fail(session, current, "invalid_training_file", error, "training_file")

    def _start_queued(self) -> None:
        with self.db.session() as session:
            queued = list(
                session.execute(
                    sa.select(Job).where(Job.status == "queued").order_by(Job.seq)
                ).scalars()
            )
            busy = list(
                session.execute(sa.select(Job.project).where(Job.status == "running")).scalars()
            )
        for job in queued:
            if len(busy) >= self.slots:
                return
            if busy.count(job.project) >= self.per_project:
                continue
            busy.append(job.project)
            self._launch(job.id)

    def _launch(self, job_id: str) -> None:
        with self.db.session() as session:
            job = session.execute(sa.select(Job).where(Job.id == job_id)).scalar_one()
            job_dir = Path(job.job_dir)
            job_dir.mkdir(parents=True, exist_ok=True)
            (job_dir / "exit_code").unlink(missing_ok=True)
            command = [
                sys.executable,
                "-m",
                "framework.service.child",
                str(job_dir / "exit_code"),
                sys.executable,
                str(self.root / "train.py"),
                *job.overrides,
            ]
            env = {**os.environ, "HYDRATUNE_OUTPUT": str(job_dir), "PYTHONUNBUFFERED": "1"}
            env.pop("HYDRATUNE_SERVE_KEY", None)
            with (job_dir / "process.log").open("ab") as out:
                popen = subprocess.Popen(
                    command,
                    cwd=self.root,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # a server crash does not take the job with it
                )
            first = job.launches == 0
            job.status, job.pid, job.launches = "running", popen.pid, job.launches + 1
            self.db.add_event(
                session,
                job.id,
                "Fine-tuning job started" if first else "Fine-tuning job continues in its run dir",
            )
        self.running[job_id] = Running(job_id, popen.pid, job_dir, popen)

    def _watch(self, running: Running) -> None:
        with self.db.session() as session:
            job = session.execute(sa.select(Job).where(Job.id == running.job_id)).scalar_one()
        self._ingest(job, running)
        alive = running.alive()
        if alive and job.requested in ("cancel", "pause") and not running.signalled:
            try:
                os.kill(running.pid, signal.SIGTERM)  # the wrapper forwards it to train.py
                running.signalled = True
            except ProcessLookupError:
                pass
        if alive:
            return
        if running.popen is not None:
            running.popen.wait()
        self._ingest(job, running)
        self.running.pop(running.job_id, None)
        self._finish(running)

    def _ingest(self, job: Job, running: Running) -> None:
        """New metric rows become events; new checkpoint files become checkpoint objects."""
        rows = metric_rows(running.run_dir)
        with self.db.session() as session:
            current = session.get(Job, job.seq)
            assert current is not None
            latest: dict[str, Any] = {}
            for row in rows:
                kind, step = row.pop("kind"), row["step"]
                if kind == "train":
                    latest = row
                if kind == "train" and step > current.last_train_step:
                    current.last_train_step = step
                    message = f"Step {step}: training loss={row['train_loss']:.4f}"
                    self.db.add_event(session, job.id, message, "metrics", **row)
                elif kind == "val" and step > current.last_val_step:
                    current.last_val_step = step
                    message = f"Step {step}: validation loss={row['valid_loss']:.4f}"
                    self.db.add_event(session, job.id, message, "metrics", **row)
            known = set(
                session.execute(
                    sa.select(Checkpoint.step).where(Checkpoint.job_id == job.id)
                ).scalars()
            )
            for step, path in sorted(checkpoint_steps(running.run_dir).items()):
                if step in known:
                    continue
                metrics = {k: v for k, v in latest.items() if k != "step"} if latest else {}
                for row in rows:
                    if row["step"] == step and "train_loss" in row:
                        metrics = {k: v for k, v in row.items() if k != "step"}
                session.add(
                    Checkpoint(
                        id=new_id("ftckpt"),
                        job_id=job.id,
                        step=step,
                        metrics=metrics,
                        path=str(path),
                        created_at=now(),
                    )
                )
                self.db.add_event(session, job.id, f"Checkpoint created at step {step}")

    def _finish(self, running: Running) -> None:
        code = running.exit_code()
        done = (running.run_dir / "metrics.json").is_file()
        with self.db.session() as session:
            job = session.execute(sa.select(Job).where(Job.id == running.job_id)).scalar_one()
            job.pid = None
            if code == 0 and done:
                metrics = json.loads((running.run_dir / "metrics.json").read_text())
                job.status, job.finished_at = "succeeded", now()
                job.fine_tuned_model = job.hydratune.get("output_model")
                job.trained_tokens = int(metrics.get("train_tokens") or 0) or None
                message = f"New fine-tuned model created: {job.fine_tuned_model}"
                self.db.add_event(session, job.id, message)
                self.db.add_event(session, job.id, "The job has successfully completed")
            elif job.requested in ("cancel", "pause"):  # preempted (or stopped before training)
                job.status = "cancelled" if job.requested == "cancel" else "paused"
                if job.status == "cancelled":
                    job.finished_at = now()
                job.requested = None
                self.db.add_event(session, job.id, f"Job {job.status} after a checkpoint")
            elif code is None and job.requested is None:
                # The process vanished with no exit code (killed with its wrapper): run it
                # again in its run dir, resuming from the newest checkpoint.
                job.status = "queued"
                self.db.add_event(session, job.id, "Job process lost: queued to resume")
            else:
                message = tail_error(running.job_dir / "process.log")
                self._fail(session, job, "training_failed", message, None)

    def _fail(self, session: Any, job: Job, code: str, message: str, param: str | None) -> None:
        job.status, job.finished_at, job.requested = "failed", now(), None
        job.error = {"code": code, "message": message, "param": param}
        self.db.add_event(session, job.id, f"Job failed: {message}", level="error")
