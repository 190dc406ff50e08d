"""Result files and tables shared by the rows: each row's JSON (commit, machine, every setting,
every run, every comparison) and the markdown table of its comparisons."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness import ROOT, machine, quick_mode, write_json
from stats import Comparison

RESULTS = ROOT / "bench" / "results"  # full runs: committed, the raw data behind the doc
QUICK_RESULTS = ROOT / "outputs" / "bench" / "quick"  # smoke runs: gitignored
# Every column a runs table can show: header -> (the run's key, its format).
COLUMNS = {
    "max length": ("max_length", "d"),
    "tokens/s": ("tokens_per_s", ".1f"),
    "s/step": ("s_per_step", ".3f"),
    "CPU s/step": ("cpu_s_per_step", ".3f"),
    "tokens/step": ("tokens_per_step", ".0f"),
    "timed s": ("timed_s", ".0f"),
    "peak RSS MiB": ("peak_mib", ".0f"),
    "step-1 loss": ("first_loss", ".5f"),
}
SPEED = ("tokens/s", "s/step", "tokens/step", "timed s", "peak RSS MiB")  # a run's speed, memory


def results_dir() -> Path:
    return QUICK_RESULTS if quick_mode() else RESULTS


def work_dir(row: str) -> Path:
    """Scratch space for a row's runs (logs, run dirs): never committed."""
    return ROOT / "outputs" / "bench" / ("quick-work" if quick_mode() else "work") / row


def new_result(row: str, title: str, settings: dict[str, Any], threads: int) -> dict[str, Any]:
    """The frame of a row's result file: what ran, on what, from which commit."""
    return {
        "row": row,
        "title": title,
        "command": ("BENCH_QUICK=1 " if quick_mode() else "") + f"python bench/{row}.py",
        "quick": quick_mode(),
        "machine": machine(threads),
        "settings": settings,
        "runs": {},
        "comparisons": [],
    }


def add(result: dict[str, Any], comparison: Comparison) -> Comparison:
    result["comparisons"].append(comparison.as_dict())
    return comparison


def save(result: dict[str, Any]) -> Path:
    """Write the row's result file, with the load average at its end beside the one at start."""
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    path = results_dir() / f"{result['row']}.json"
    write_json(path, result)
    return path


def finish(result: dict[str, Any], headers: Sequence[str]) -> dict[str, Any]:
    """Add the row's markdown (its comparisons, then every run in the COLUMNS `headers`) and
    save it."""
    columns = [(header, *COLUMNS[header]) for header in headers]
    tables = [comparison_table(result["comparisons"]), runs_table(result["runs"], columns)]
    result["markdown"] = "\n\n".join(tables)
    save(result)
    return result


def row_main(doc: str, run: Callable[[int], dict[str, Any]], threads_help: str) -> None:
    """A measured row's command line: --threads, then the row's markdown printed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help=threads_help)
    args = parser.parse_args()
    print(run(args.threads)["markdown"])


def load(row: str) -> dict[str, Any] | None:
    path = results_dir() / f"{row}.json"
    return dict(json.loads(path.read_text())) if path.is_file() else None


def comparison_table(comparisons: list[dict[str, Any]]) -> str:
    """One line per comparison: per-pair ratios, geometric mean [95% interval], goal."""
    lines = [
        "| comparison | metric | pairs | per-pair ratios | **ratio [95% CI]** | goal |",
        "|---|---|--:|---|--:|---|",
    ]
    for raw in comparisons:
        c = Comparison(**raw)
        ratios = ", ".join(f"{r:.3f}" for r in c.ratios)
        lines.append(
            f"| {c.name} | {c.metric} | {len(c.ratios)} | {ratios} | **{c.interval()}** "
            f"| {c.goal_text()} |"
        )
    return "\n".join(lines)


def runs_table(runs: dict[str, list[dict[str, Any]]], columns: list[tuple[str, str, str]]) -> str:
    """Every run of every side: `columns` are (header, key, format)."""
    head = "| side | # | " + " | ".join(h for h, _, _ in columns) + " |"
    lines = [head, "|---|--:|" + "--:|" * len(columns)]
    for side, values in runs.items():
        for i, run in enumerate(values):
            cells = []
            for _, key, fmt in columns:
                value = run.get(key)
                cells.append("" if value is None else format(value, fmt))
            lines.append(f"| {side} | {i} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def unavailable(result: dict[str, Any], override: str) -> None:
    """Record that this tree lacks an option a row measures (it will after a merge)."""
    result.setdefault("unavailable", []).append(override)
    print(f"{result['row']}: {override}: option not available in this tree", flush=True)
