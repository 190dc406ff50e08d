"""A throwaway two-node SLURM cluster on this one machine (Debian's slurm-wlm, slurmdbd, munge,
mariadb-server) for tests and `make slurm-up`.

Everything lives in one folder: its own munge key and socket (a munged run as the `munge`
user), its own slurm.conf on free ports, the state, spool and log files. `up` starts exactly
six daemons (munged; mariadbd and slurmdbd for accounting, tests/slurm_accounting.py: submitit
polls job states with sacct; slurmctld; one slurmd per node) and records their pids in the
folder; `down` stops exactly those pids and removes the folder. The first node (this machine's
hostname) declares 64 CPUs, 256 GB and four GPUs (`SlurmdParameters=config_overrides` keeps it
schedulable on a 2-core machine; the GPUs are placeholder character devices /dev/fakegpu[0-3],
so SLURM accepts `--gpus-per-node=4` jobs and sets CUDA_VISIBLE_DEVICES while torch sees no
CUDA: GPU presets fail on the compute side). The second node (`localhost`, a second slurmd on
its own port) makes `--nodes=2` jobs run: one task on each, ranks across the two "nodes".

Clients find the cluster through SLURM_CONF=<folder>/slurm.conf (see `env()`).

    python -m tests.slurm_kit up .slurm     # prints `export SLURM_CONF=...`
    python -m tests.slurm_kit down .slurm
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests import slurm_accounting
from tests.slurm_munge import start_munge

DAEMONS = ("munged", "slurmctld", "slurmd")
FAKE_GPUS = [Path(f"/dev/fakegpu{n}") for n in range(4)]
CPUS, MEMORY_MB = 64, 262144
# The second node: a second slurmd on this machine (its own port, spool, pid and log file, `%n`
# in their paths), named after an address that resolves here so that DDP's rank 0 is reachable.
SECOND_NODE, SECOND_CPUS, SECOND_MEMORY_MB = "localhost", 4, 8192


def node_names() -> tuple[str, str]:
    """The cluster's two nodes: this machine's short hostname (64 CPUs, the GPUs) and
    SECOND_NODE (4 CPUs): 2-node jobs get one task on each."""
    return socket.gethostname().split(".")[0], SECOND_NODE


def unavailable_reason() -> str | None:
    """Why a SLURM cluster cannot start on this machine, or None when it can."""
    if os.getuid() != 0:
        return "the SLURM test cluster needs root (slurmd runs jobs as the submitting user)"
    missing = [d for d in DAEMONS if not Path(_daemon(d)).exists()] + slurm_accounting.missing()
    if missing or shutil.which("sbatch") is None:
        return (
            f"SLURM is not installed ({', '.join(missing) or 'sbatch'} missing): "
            "apt-get install slurm-wlm slurmdbd munge mariadb-server (make install does)"
        )
    try:
        import pwd

        pwd.getpwnam("munge")
    except KeyError:
        return "no `munge` user (apt-get install munge)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _daemon(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def env(folder: Path) -> dict[str, str]:
    """The environment variables that point SLURM's clients (sbatch, squeue...) at the cluster."""
    return {"SLURM_CONF": str(folder / "slurm.conf")}


def _write_config(folder: Path) -> tuple[int, int]:
    """slurm.conf, gres.conf and slurmdbd.conf; returns MariaDB's and slurmdbd's ports."""
    host, second = node_names()
    for sub in ("state", "log"):
        (folder / sub).mkdir(exist_ok=True)
    munge_socket = folder / "munge" / "munge.socket"
    dbd_port, db_port = _free_port(), _free_port()
    gpus = f"gpu:{len(FAKE_GPUS)}"
    slurm_accounting.write_config(folder, munge_socket, dbd_port, db_port)
    (folder / "slurm.conf").write_text(
        f"""# hydratune's throwaway test cluster (tests/slurm_kit.py)
ClusterName=hydratune
SlurmctldHost={host}
SlurmUser=root
SlurmctldPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={munge_socket}
CredType=cred/munge
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool-%n
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd-%n.pid
SlurmctldLogFile={folder}/log/slurmctld.log
SlurmdLogFile={folder}/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
{slurm_accounting.slurm_conf_lines(munge_socket, dbd_port)}SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
GresTypes=gpu
KillWait=5
MinJobAge=300
NodeName={host} Port={_free_port()} CPUs={CPUS} RealMemory={MEMORY_MB} Gres={gpus} State=UNKNOWN
NodeName={second} Port={_free_port()} CPUs={SECOND_CPUS} RealMemory={SECOND_MEMORY_MB} State=UNKNOWN
PartitionName=debug Nodes={host},{second} Default=YES MaxTime=INFINITE State=UP
"""
    )
    (folder / "gres.conf").write_text(f"Name=gpu File=/dev/fakegpu[0-{len(FAKE_GPUS) - 1}]\n")
    return db_port, dbd_port


def _make_fake_gpus(folder: Path) -> None:
    made = []
    for device in FAKE_GPUS:
        if not device.exists():
            subprocess.run(["mknod", str(device), "c", "1", "3"], check=True)
            made.append(str(device))
    (folder / "made_devices").write_text("\n".join(made))


def _pid_files(folder: Path) -> dict[str, Path]:
    """Every daemon's pid file, in the order `down` stops them (munged, which the others
    authenticate with, last)."""
    return {
        **{f"slurmd {node}": folder / f"slurmd-{node}.pid" for node in node_names()},
        "slurmctld": folder / "slurmctld.pid",
        **slurm_accounting.pid_files(folder),
        "munged": folder / "munge" / "munged.pid",
    }


def _wait_for(what: str, check: Callable[[], bool], folder: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    logs = "".join(
        f"\n--- {log.name}\n{log.read_text()[-2000:]}" for log in sorted((folder / "log").glob("*"))
    )
    raise RuntimeError(f"SLURM test cluster: {what} did not happen in {timeout}s{logs}")


def _node_idle(folder: Path) -> bool:
    command = ["sinfo", "-h", "-o", "%t"]
    out = subprocess.run(command, env={**os.environ, **env(folder)}, capture_output=True, text=True)
    states = out.stdout.split()
    return out.returncode == 0 and len(states) > 0 and set(states) <= {"idle", "mix", "alloc"}


def up(folder: Path) -> Path:
    """Start the cluster's six daemons with their config in `folder` (created, empty)."""
    reason = unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    folder.mkdir(parents=True, exist_ok=False)
    folder.chmod(0o755)
    try:
        db_port, dbd_port = _write_config(folder)
        _make_fake_gpus(folder)
        start_munge(folder)
        slurm_accounting.start_mariadb(folder, db_port)
        conf = str(folder / "slurm.conf")
        _wait_for("munged start", lambda: _pid_files(folder)["munged"].exists(), folder)
        ready = slurm_accounting.listening
        _wait_for("MariaDB start", lambda: ready("127.0.0.1", db_port), folder)
        slurm_accounting.start_slurmdbd(folder)
        _wait_for("slurmdbd start", lambda: ready(socket.gethostname(), dbd_port), folder)
        subprocess.run([_daemon("slurmctld"), "-f", conf], check=True, timeout=30)
        _wait_for("slurmctld start", lambda: _pid_files(folder)["slurmctld"].exists(), folder)
        for node in node_names():
            subprocess.run([_daemon("slurmd"), "-f", conf, "-N", node], check=True, timeout=30)
        _wait_for("the nodes to become idle", lambda: _node_idle(folder), folder, timeout=45)
    except BaseException:
        down(folder)
        raise
    return folder


def _stop(pid: int, timeout: float = 15) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(folder: Path) -> None:
    """Cancel the cluster's jobs, stop exactly the daemons whose pids it recorded, remove it."""
    if not folder.is_dir():
        return
    if (folder / "slurm.conf").exists() and _pid_files(folder)["slurmctld"].exists():
        subprocess.run(
            ["scancel", "--full", "--user=root"],
            env={**os.environ, **env(folder)},
            capture_output=True,
            timeout=20,
        )
    for pid_file in _pid_files(folder).values():  # slurmd first, munged last
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        _stop(pid)
    made = folder / "made_devices"
    if made.exists():
        for device in made.read_text().split():
            Path(device).unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def slurm_cluster() -> Iterator[Path]:
    """A running cluster for the duration of the block; yields its folder."""
    folder = Path(tempfile.mkdtemp(prefix="hydratune-slurm-")) / "cluster"
    folder.parent.chmod(0o755)  # munged runs as `munge` and must reach its folder
    try:
        yield up(folder)
    finally:
        down(folder)
        shutil.rmtree(folder.parent, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("up", "down"):
        print("usage: python -m tests.slurm_kit up|down FOLDER", file=sys.stderr)
        return 2
    folder = Path(argv[1]).resolve()
    if argv[0] == "down":
        down(folder)
        print(f"SLURM test cluster in {folder} stopped")
        return 0
    reason = unavailable_reason()
    if reason:
        print(f"cannot start a SLURM cluster: {reason}", file=sys.stderr)
        return 1
    if folder.exists():
        print(f"{folder} exists: `make slurm-down` first", file=sys.stderr)
        return 1
    up(folder)
    print(f"SLURM cluster up; point the clients at it:\n  export SLURM_CONF={folder}/slurm.conf")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
