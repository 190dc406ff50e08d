"""One writer per run dir: an exclusive lock held by the run's rank-0 process while it runs.

A second process started into the same run dir (the same `hydra.run.dir`, or HYDRATUNE_RUN_DIR)
exits 2 naming the holder; ranks launched by Lightning or a cluster join without locking.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from framework.errors import UserError

LOCK_NAME = ".lock"
RANK_ENV = ("RANK", "LOCAL_RANK", "SLURM_PROCID")


def is_rank_zero_launch() -> bool:
    """True in the process the user (or the scheduler's first task) started."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_ENV)


@contextmanager
def exclusive_run_dir(run_dir: Path) -> Iterator[None]:
    """Hold run_dir/.lock (flock, released by the kernel if the process dies)."""
    if not is_rank_zero_launch():
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole run)
    try:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise UserError(
                f"the run dir {run_dir} is in use by {holder}; one process writes a run dir. "
                "Wait for it, or pick another run.name / hydra.run.dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        yield
    finally:
        handle.close()
