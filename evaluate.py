"""Score a finished run on a split of its dataset: `python evaluate.py run_dir=<dir>`."""

from pathlib import Path

from framework.cli.commands import evaluate_command
from framework.cli.tool import run_tool

if __name__ == "__main__":
    run_tool(Path(__file__).resolve().parent, "evaluate", evaluate_command)
