"""`make bench`: run every row (overhead, vs_trl, throughput, options, startup); rewrite
docs/benchmarks.md.

Prints the estimated run time first. BENCH_QUICK=1 runs every row at its smallest (tiny model,
one or two pairs) and writes outputs/bench/quick/benchmarks.md instead (docs/ untouched).

    make bench                                        # the real measurements (~110 min, 2 cores)
    BENCH_QUICK=1 make bench                          # every row, a smoke run
    .venv/bin/python bench/run_all.py --rows overhead # one row (the doc keeps the others' files)
    .venv/bin/python bench/run_all.py --reuse         # rebuild the doc from bench/results/*.json
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from document import document  # noqa: E402
from harness import ROOT, quick_mode  # noqa: E402
from report import load, results_dir  # noqa: E402

ROWS = ("overhead", "vs_trl", "throughput", "options", "startup")


def estimate_s(rows: list[str]) -> float:
    """Seconds the rows should take, from each row's settings and its expected step times."""
    total = 0.0
    for row in rows:
        module: Any = importlib.import_module(row)
        total += module.case().estimate_s() if row == "overhead" else module.estimate_s()
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated subset")
    parser.add_argument("--reuse", action="store_true", help="run nothing: saved results only")
    parser.add_argument("--doc", type=Path, help="default: docs/benchmarks.md (quick: outputs/)")
    parser.add_argument("--notes", type=Path, default=ROOT / "bench" / "notes.md")
    parser.add_argument("--made-by", default="", help="the command to credit in the doc")
    args = parser.parse_args()
    rows = [r for r in args.rows.split(",") if r]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"--rows: unknown {', '.join(unknown)}; allowed: {', '.join(ROWS)}")
    quick = quick_mode()
    if not args.reuse:
        minutes = estimate_s(rows) / 60
        print(f"estimated time: {minutes:.0f} min ({'quick' if quick else 'full'} mode, rows "
              f"{', '.join(rows)})", flush=True)  # fmt: skip
    started = time.time()
    for row in [] if args.reuse else rows:
        print(f"== {row}", flush=True)
        result = importlib.import_module(row).run()
        print(result["markdown"], flush=True)
    results = {row: found for row in ROWS if (found := load(row)) is not None}
    if not results:
        raise SystemExit(f"no results in {results_dir()}")
    made_by = args.made_by or ("BENCH_QUICK=1 make bench" if quick else "make bench")
    notes = args.notes.read_text() if args.notes.is_file() else ""
    doc = ROOT / "docs" / "benchmarks.md"
    target = args.doc or (results_dir() / "benchmarks.md" if quick else doc)
    target.write_text(document(results, doc, made_by, notes))
    print(f"took {(time.time() - started) / 60:.1f} min; wrote {target}")


if __name__ == "__main__":
    main()
