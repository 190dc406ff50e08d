"""The job process wrapper: runs train.py, forwards SIGTERM, writes the exit code to a file.

python -m framework.service.child <exit_code_file> <command...>. The file outlives the
server, so a server restarted after a crash still knows how a job that ended meanwhile ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the command; forward SIGTERM/SIGUSR1/SIGINT; write and return its exit code."""
    exit_file, command = Path(argv[0]), argv[1:]
    proc = subprocess.Popen(command)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
        signal.signal(signum, forward)
    code = proc.wait()
    temporary = exit_file.with_suffix(".tmp")
    temporary.write_text(f"{code}\n")
    os.replace(temporary, exit_file)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
