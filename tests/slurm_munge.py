"""The test cluster's munged (tests/slurm_kit.py): its own key, socket and pid file.

It runs as the `munge` user; its folder must be searchable by all (the socket's clients are
slurmctld, slurmd, slurmdbd and every srun/sbatch).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def start_munge(folder: Path) -> None:
    """Start munged as the `munge` user with a fresh key, its socket in folder/munge."""
    munge = folder / "munge"
    munge.mkdir()
    munge.chmod(0o711)  # munged: the socket's folder must be searchable by all
    key = munge / "munge.key"
    key.write_bytes(os.urandom(128))
    key.chmod(0o400)
    shutil.chown(munge, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    started = subprocess.run(
        [
            "runuser",
            "-u",
            "munge",
            "--",
            shutil.which("munged") or "/usr/sbin/munged",
            f"--key-file={key}",
            f"--socket={munge / 'munge.socket'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={munge / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        ],
        capture_output=True,
        timeout=30,
    )
    if started.returncode:
        log = munge / "munged.log"
        text = log.read_text() if log.exists() else ""
        raise RuntimeError(f"munged failed: {started.stderr!r} {text}")
