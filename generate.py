"""Talk to a finished run: `python generate.py run_dir=<dir> prompt="..."`, or chat without one."""

from pathlib import Path

from framework.cli.commands import generate_command
from framework.cli.tool import run_tool

if __name__ == "__main__":
    run_tool(Path(__file__).resolve().parent, "generate", generate_command)
