"""Start-up: wall time of `train.py run.dry_run=true`, and time to the first optimizer step.

The first step is timed for the default job (`make train`: `python train.py`, plus
run.step_times=true so the run writes a timestamp per step, and its own run dir): from
launching the process to the end of its first optimizer step, read from step_times.csv; the
process is stopped there. With `-X importtime` the slowest imports of the dry run are listed.

    .venv/bin/python bench/startup.py                       # 5 dry runs, 2 default-job starts
    .venv/bin/python bench/startup.py --first-step-args model=tiny --starts 1 --dry-runs 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    machine,
    median,
    publish,
    quick_mode,
    read_step_csv,
    require_ok,
    run_child,
    thread_env,
    train_py,
)

GOAL_DRY_RUN_S = 3.0
FIRST_STEP_TIMEOUT_S = 900


def dry_run_seconds(work: Path, threads: int, index: int) -> float:
    log = work / f"dry-run-{index}.log"
    child = run_child(train_py(["run.dry_run=true"]), log, thread_env(threads))
    require_ok(child, log, "dry run")
    return child.wall_s


def slowest_imports(work: Path, threads: int, top: int = 8) -> list[tuple[str, float]]:
    """The top-level imports of a dry run with the largest cumulative time (-X importtime)."""
    log = work / "dry-run-importtime.log"
    cmd = [sys.executable, "-X", "importtime", *train_py(["run.dry_run=true"])[1:]]
    require_ok(run_child(cmd, log, thread_env(threads)), log, "dry run (importtime)")
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if name.startswith(" ") and not name.startswith("  "):  # top level only
            try:
                found.append((name.strip(), int(cumulative) / 1e6))
            except ValueError:
                continue
    return sorted(found, key=lambda x: -x[1])[:top]


def first_step_seconds(work: Path, threads: int, index: int, extra: list[str]) -> float:
    """Launch the default job; seconds until its first optimizer step ends."""
    run_dir = work / f"first-step-{index}"
    shutil.rmtree(run_dir, ignore_errors=True)
    times = run_dir / "step_times.csv"
    log = work / f"first-step-{index}.log"
    args = [*extra, "run.step_times=true", "run.resume=never", f"hydra.run.dir={run_dir}"]
    with log.open("w") as handle:
        launched = time.time()
        proc = subprocess.Popen(
            train_py(args),
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **thread_env(threads)},
            start_new_session=True,  # its own process group: stopped as a whole below
        )
        try:
            while time.time() - launched < FIRST_STEP_TIMEOUT_S:
                if times.is_file() and read_step_csv(times):
                    return read_step_csv(times)[0][1] - launched
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # no preemption checkpoint: just stop
                proc.wait()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    raise SystemExit(f"the job reached no optimizer step (exit {proc.returncode}):\n{tail}")


def markdown(result: dict[str, Any]) -> str:
    dry = result["dry_run_s"]
    first = result["first_step_s"]
    goal = "met" if median(dry) < GOAL_DRY_RUN_S else "**not met**"
    lines = [
        "| measurement | command | runs | median (s) | min / max (s) | goal |",
        "|---|---|--:|--:|--:|---|",
        f"| dry run, process start to exit | `python train.py run.dry_run=true` | {len(dry)} "
        f"| **{median(dry):.2f}** | {min(dry):.2f} / {max(dry):.2f} "
        f"| < {GOAL_DRY_RUN_S:.0f} s: {goal} |",
        f"| default job, process start to the end of the first optimizer step "
        f"| `python train.py {' '.join(result['first_step_args'])}` | {len(first)} "
        f"| **{median(first):.1f}** | {min(first):.1f} / {max(first):.1f} | - |",
    ]
    imports = ", ".join(f"{name} {s:.2f} s" for name, s in result["slowest_imports"])
    lines += ["", f"Slowest top-level imports of the dry run (`-X importtime`): {imports}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-runs", type=int, default=5)
    parser.add_argument("--starts", type=int, default=2, help="default-job starts timed")
    parser.add_argument("--first-step-args", default="", help="overrides for the timed job")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench" / "startup")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "bench" / "startup.json")
    args = parser.parse_args()
    quick = quick_mode()
    if quick:
        args.dry_runs, args.starts = 1, 1
        args.first_step_args = args.first_step_args or "model=tiny"
    args.work.mkdir(parents=True, exist_ok=True)
    info = machine(args.threads)
    extra = args.first_step_args.split()
    dry, first = [], []
    for i in range(max(args.dry_runs, args.starts)):  # interleaved as well
        if i < args.dry_runs:
            dry.append(dry_run_seconds(args.work, args.threads, i))
            print(f"dry run #{i}: {dry[-1]:.2f} s", flush=True)
        if i < args.starts:
            first.append(first_step_seconds(args.work, args.threads, i, extra))
            print(f"first step #{i}: {first[-1]:.1f} s", flush=True)
    result: dict[str, Any] = {
        "command": " ".join(["python", "bench/startup.py", *sys.argv[1:]]),
        "quick": quick,
        "machine": info,
        "dry_run_s": dry,
        "first_step_s": first,
        "first_step_args": [*extra, "run.step_times=true"],
        "slowest_imports": slowest_imports(args.work, args.threads),
    }
    publish(args.json, result, markdown)


if __name__ == "__main__":
    main()
