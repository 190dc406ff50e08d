"""A job's process as the executor sees it: alive or not, its exit code, why it failed."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Running:
    """A job process this executor watches (started here, or found alive after a restart)."""

    job_id: str
    pid: int
    job_dir: Path
    popen: subprocess.Popen[bytes] | None = None
    signalled: bool = False

    @property
    def run_dir(self) -> Path:
        return self.job_dir / "run"

    @property
    def exit_file(self) -> Path:
        return self.job_dir / "exit_code"

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_runs(self.pid, self.job_dir)

    def exit_code(self) -> int | None:
        try:
            return int(self.exit_file.read_text().strip())
        except (OSError, ValueError):
            return None


def pid_runs(pid: int, job_dir: Path) -> bool:
    """Whether pid is alive, not a zombie, and is this job's wrapper (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and str(job_dir) in cmdline


def tail_error(log_file: Path) -> str:
    """The user-facing reason a run stopped: its `error:` line, else the last log lines."""
    try:
        lines = log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "the training process ended without output"
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith("error: "):
            return "\n".join(lines[index:])[len("error: ") :][:2000]
    return "\n".join(lines[-15:])[-2000:] or "the training process failed"
