"""A throwaway PostgreSQL cluster for tests: initdb into a temp dir, start it on a free port
(as the `postgres` user when running as root), stop exactly that cluster afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.service_kit import free_port


def _bindir() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(versions[-1]).parent if versions else None


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """A database URL on a fresh cluster; skips the test when PostgreSQL is not installed
    (`make install` installs Debian's postgresql)."""
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; see the Makefile)")
    runner: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="hydratune-pg-"))  # /tmp: readable by postgres
    if os.getuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        runner = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()
    started = False
    try:
        subprocess.run(
            [
                *runner,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *runner,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        started = True
        subprocess.run(
            [
                *runner,
                str(bindir / "createdb"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "hydratune",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/hydratune"
    finally:
        if started:
            subprocess.run(
                [*runner, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(folder, ignore_errors=True)
