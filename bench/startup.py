"""Row (f): the default job (`python train.py`, as `make train` runs it) end to end, cold and
warm, and the dry run.

Time to first step = from launching the process to the end of its first optimizer step (read
from step_times.csv, `run.step_times=true`); total = launch to exit. Cold = the first run on a
machine: a fresh `HYDRATUNE_CACHE` holding only the downloaded model and tokenizer (no
tokenized data, no cached validation, nothing else the framework caches); the OS page cache
cannot be dropped without root, so files read before are still in memory. Warm = the same
cache again. Runs: cold to the first step, warm to the end (total), warm to the first step.

    .venv/bin/python bench/startup.py
    BENCH_QUICK=1 .venv/bin/python bench/startup.py     # model=tiny
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    quick_mode,
    read_step_csv,
    require_ok,
    run_child,
    thread_env,
    train_py,
    write_json,
)
from report import new_result, save, work_dir  # noqa: E402

GOALS = {"warm": 25.0, "cold": 45.0}  # seconds to the end of the first optimizer step
TIMEOUT_S = 1200
DEFAULT_JOB_S = 300.0  # for the estimate: the default job on 2 cores, one thread
CACHE = ROOT / ".cache"


def job_args() -> list[str]:
    return ["model=tiny"] if quick_mode() else []


def estimate_s() -> float:
    return (60.0 if quick_mode() else DEFAULT_JOB_S) + 2 * 45.0 + 3 * 2.0


def cold_cache(work: Path) -> Path:
    """A fresh framework cache with only the downloaded model and tokenizer in it."""
    cache = work / "cold-cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for name in ("models", "tokenizers"):
        if (CACHE / name).exists():
            (cache / name).symlink_to((CACHE / name).resolve())
    return cache


def timed_job(
    work: Path, tag: str, job: list[str], cache: Path | None, to_end: bool
) -> dict[str, Any]:
    """Launch the default job: seconds to its first step, and to its exit when `to_end`."""
    run_dir = work / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    times, log = run_dir / "step_times.csv", work / f"{tag}.log"
    args = [*job, "run.step_times=true", "run.resume=never", f"hydra.run.dir={run_dir}"]
    env = {**os.environ, **thread_env(1), **({"HYDRATUNE_CACHE": str(cache)} if cache else {})}
    with log.open("w") as handle:
        launched = time.time()
        proc = subprocess.Popen(train_py(args), cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip
        first = None
        try:
            while time.time() - launched < TIMEOUT_S and proc.poll() is None:
                if first is None and times.is_file() and read_step_csv(times):
                    first = read_step_csv(times)[0][1] - launched
                    if not to_end:
                        break
                time.sleep(0.05)
            if first is None and times.is_file() and read_step_csv(times):
                first = read_step_csv(times)[0][1] - launched
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # stopped at the first step on purpose
            proc.wait()
    total = time.time() - launched if to_end else None
    if first is None or (to_end and proc.returncode != 0):
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise SystemExit(f"{tag}: the default job failed (exit {proc.returncode}):\n{tail}")
    return {"run": tag, "first_step_s": first, "total_s": total}


def dry_runs(work: Path, count: int) -> list[float]:
    found = []
    for i in range(count):
        log = work / f"dry-run-{i}.log"
        child = run_child(train_py(["run.dry_run=true"]), log, thread_env(1))
        require_ok(child, log, "dry run")
        found.append(child.wall_s)
    return found


def verdict(seconds: list[float], goal: float) -> str:
    return "met" if max(seconds) <= goal else "not met" if min(seconds) > goal else "inconclusive"


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| run | caches | time to end of first optimizer step (s) | total (s) | goal |",
        "|---|---|--:|--:|---|",
    ]
    for r in result["runs"]["default job"]:
        kind = "cold" if r["run"].startswith("cold") else "warm"
        total = "" if r["total_s"] is None else f"{r['total_s']:.1f}"
        goal = f"<= {GOALS[kind]:.0f} s"
        lines.append(f"| {r['run']} | {kind} | **{r['first_step_s']:.1f}** | {total} | {goal} |")
    lines.append("")
    for kind, v in result["verdicts"].items():
        lines.append(f"- Time to first step, {kind}: **{v}** (every run <= goal: met; "
                     "every run over it: not met; else inconclusive).")  # fmt: skip
    dry = ", ".join(f"{s:.2f}" for s in result["runs"]["dry run"])
    lines.append(f"- Dry run (`python train.py run.dry_run=true`), process start to exit: {dry} s.")
    return "\n".join(lines)


@dataclass(frozen=True)
class Plan:
    """Which runs: cold to the first step, warm to the end, warm starts to the first step."""

    cold: bool = True
    total: bool = True
    starts: int = 1
    dry_runs: int = 3
    extra: tuple[str, ...] = ()


def run(threads: int = 1, plan: Plan = Plan(), work: Path | None = None) -> dict[str, Any]:
    work = work or work_dir("startup")
    work.mkdir(parents=True, exist_ok=True)
    args = [*job_args(), *plan.extra]
    settings = {"job": ["python", "train.py", *args, "run.step_times=true"], **asdict(plan)}
    result = new_result("startup", "The default job end to end", settings, threads)
    jobs = [timed_job(work, "cold-0", args, cold_cache(work), False)] if plan.cold else []
    if plan.total:
        jobs.append(timed_job(work, "warm-0", args, None, True))
    jobs += [timed_job(work, f"warm-{i + 1}", args, None, False) for i in range(plan.starts)]
    dry = dry_runs(work, 1 if quick_mode() else plan.dry_runs)
    result["runs"] = {"default job": jobs, "dry run": dry}
    result["verdicts"] = {}
    for kind, goal in GOALS.items():
        firsts = [j["first_step_s"] for j in jobs if j["run"].startswith(kind)]
        if firsts:
            result["verdicts"][kind] = verdict(firsts, goal)
    result["markdown"] = markdown(result)
    save(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=1, help="warm runs stopped at step 1")
    parser.add_argument("--dry-runs", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="skip the cold run")
    parser.add_argument("--no-total", action="store_true", help="skip the warm run to the end")
    parser.add_argument("--first-step-args", default="", help="extra overrides for the job")
    parser.add_argument("--work", type=Path, help="scratch folder (default outputs/bench/...)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    a = parser.parse_args()
    plan = Plan(
        not a.no_cold, not a.no_total, a.starts, a.dry_runs, tuple(a.first_step_args.split())
    )
    result = run(1, plan, a.work)
    if a.json:
        write_json(a.json, result)
    print(result["markdown"])


if __name__ == "__main__":
    main()
