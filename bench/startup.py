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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, quick_mode, read_step_csv, require_ok, run_child, thread_env, train_py  # noqa: E402
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


def timed_job(work: Path, tag: str, cache: Path | None, to_end: bool) -> dict[str, Any]:
    """Launch the default job: seconds to its first step, and to its exit when `to_end`."""
    run_dir = work / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    times, log = run_dir / "step_times.csv", work / f"{tag}.log"
    args = [*job_args(), "run.step_times=true", "run.resume=never", f"hydra.run.dir={run_dir}"]
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


def run(threads: int = 1) -> dict[str, Any]:
    work = work_dir("startup")
    work.mkdir(parents=True, exist_ok=True)
    settings = {"job": ["python", "train.py", *job_args(), "run.step_times=true"]}
    result = new_result("startup", "The default job end to end", settings, threads)
    jobs = [timed_job(work, "cold-0", cold_cache(work), to_end=False)]
    jobs.append(timed_job(work, "warm-0", None, to_end=True))
    jobs.append(timed_job(work, "warm-1", None, to_end=False))
    result["runs"] = {"default job": jobs, "dry run": dry_runs(work, 1 if quick_mode() else 3)}
    result["verdicts"] = {
        kind: verdict([j["first_step_s"] for j in jobs if j["run"].startswith(kind)], goal)
        for kind, goal in GOALS.items()
    }
    result["markdown"] = markdown(result)
    save(result)
    return result


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    print(run()["markdown"])


if __name__ == "__main__":
    main()
