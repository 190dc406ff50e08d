"""Accounting for the test cluster (tests/slurm_kit.py): a throwaway MariaDB and slurmdbd.

submitit polls job states with `sacct`; without accounting a cancelled job is never seen to
end and the sweep command waits forever. Debian's mariadb-server runs as root on its own
data dir, on 127.0.0.1 and a free port, without grant tables (only slurmdbd talks to it);
slurmdbd (Debian's slurmdbd) reads `slurmdbd.conf` beside slurm.conf. Both record their pids
in the cluster's folder so that `slurm_kit.down` stops exactly them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

DAEMONS = ("mariadbd", "slurmdbd")
# A small InnoDB (the defaults take ~110 MB of log and buffer for a handful of job rows).
MARIADB_SIZES = ["--innodb-log-file-size=8M", "--innodb-buffer-pool-size=32M"]


def missing() -> list[str]:
    """The accounting programs not installed here (apt-get install mariadb-server slurmdbd)."""
    names = (*DAEMONS, "mariadb-install-db", "sacct")
    return [n for n in names if not (shutil.which(n) or Path(f"/usr/sbin/{n}").exists())]


def _program(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


def pid_files(folder: Path) -> dict[str, Path]:
    """Where slurmdbd and mariadbd write their pids (stopped in this order)."""
    return {"slurmdbd": folder / "slurmdbd.pid", "mariadbd": folder / "db" / "mariadb.pid"}


def slurm_conf_lines(munge_socket: Path, dbd_port: int) -> str:
    """slurm.conf's accounting settings: the jobs are stored through slurmdbd (the cluster's
    munge socket for that connection is AccountingStoragePass: AuthInfo does not apply to it)."""
    host = socket.gethostname().split(".")[0]
    return (
        "AccountingStorageType=accounting_storage/slurmdbd\n"
        f"AccountingStorageHost={host}\nAccountingStoragePort={dbd_port}\n"
        f"AccountingStoragePass={munge_socket}\n"
    )


def write_config(folder: Path, munge_socket: Path, dbd_port: int, db_port: int) -> None:
    """slurmdbd.conf beside slurm.conf (slurmdbd finds it through SLURM_CONF's folder)."""
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurmdbd.conf"
    conf.write_text(
        f"""# hydratune's throwaway test cluster: accounting (tests/slurm_accounting.py)
AuthType=auth/munge
AuthInfo=socket={munge_socket}
DbdHost={host}
DbdPort={dbd_port}
SlurmUser=root
PidFile={pid_files(folder)["slurmdbd"]}
LogFile={folder}/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={db_port}
StorageUser=root
StorageLoc=slurm_acct_db
"""
    )
    conf.chmod(0o600)  # slurmdbd refuses a config others can read


def start_mariadb(folder: Path, port: int) -> None:
    """Create the data dir and start mariadbd on 127.0.0.1:port (returns once it accepts)."""
    data = folder / "db"
    installed = subprocess.run(
        [
            _program("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={data}",
            "--user=root",
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
            *MARIADB_SIZES,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if installed.returncode:
        raise RuntimeError(f"mariadb-install-db failed: {installed.stdout[-1500:]}")
    server = [
        _program("mariadbd"),
        "--no-defaults",
        f"--datadir={data}",
        "--user=root",
        f"--port={port}",
        "--bind-address=127.0.0.1",
        f"--socket={data / 'mariadb.sock'}",
        f"--pid-file={pid_files(folder)['mariadbd']}",
        "--skip-grant-tables",
        *MARIADB_SIZES,
    ]
    # mariadbd does not daemonize: a shell starts it in the background and exits, so that it is
    # no child of the test process (a stopped child would linger as a zombie until reaped).
    log = folder / "log" / "mariadb.log"
    background = ["sh", "-c", f'setsid "$@" >"{log}" 2>&1 </dev/null &', "sh", *server]
    subprocess.run(background, check=True, timeout=30)


def listening(host: str, port: int) -> bool:
    """Whether a daemon accepts connections on host:port (mariadbd, then slurmdbd, which writes
    its pid file before it has created its tables and listens)."""
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def start_slurmdbd(folder: Path) -> None:
    """Start slurmdbd (it daemonizes and writes its pid file)."""
    env = {**os.environ, "SLURM_CONF": str(folder / "slurm.conf")}
    subprocess.run([_program("slurmdbd")], env=env, check=True, timeout=30)
