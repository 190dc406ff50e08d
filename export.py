"""Export a finished run, parity-checked: `python export.py run_dir=<dir> format=merged|onnx|kaito`."""

from pathlib import Path

from framework.cli.commands import export_command
from framework.cli.tool import run_tool

if __name__ == "__main__":
    run_tool(Path(__file__).resolve().parent, "export", export_command)
