"""The benchmark harness: child processes with peak RSS, machine and commit facts, the
framework's builders, step timing, one measured hydratune run."""

from __future__ import annotations

import csv
import functools
import json
import math
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PY = sys.executable
WINDOW_S = 60.0  # full mode: each run's timed window (after warm-up) lasts at least this long


def steps_for_window(s_per_step: float, warmup: int, window_s: float = WINDOW_S) -> int:
    """Steps of a full-mode run whose timed window lasts about `window_s` when a step takes
    `s_per_step` (the quiet-machine step time: a faster machine shortens the window, so the
    estimate is taken 10% low)."""
    return warmup + math.ceil(1.1 * window_s / s_per_step)


def quick_mode() -> bool:
    """BENCH_QUICK=1: the smallest settings (tiny model, few steps, one repeat)."""
    return os.environ.get("BENCH_QUICK", "0") not in ("", "0", "false")


def thread_env(threads: int) -> dict[str, str]:
    """Environment giving a child process the same torch thread count as the other side."""
    return {
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "TOKENIZERS_PARALLELISM": "false",
        "HYDRA_FULL_ERROR": "1",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class ChildResult:
    """A finished child process: exit code, wall time, peak RSS of the whole process."""

    code: int
    wall_s: float
    max_rss_mib: float
    started_unix: float


def run_child(cmd: list[str], log: Path, env: dict[str, str]) -> ChildResult:
    """Run a command to completion; its own peak RSS comes from wait4 (this child only)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        started_unix = time.time()
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildResult(proc.returncode, wall, usage.ru_maxrss / 1024.0, started_unix)


def require_ok(result: ChildResult, log: Path, what: str) -> None:
    """Stop the benchmark with the log's tail when a child failed."""
    if result.code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise SystemExit(f"{what} failed (exit {result.code}); log {log}:\n{tail}")


def versions(*names: str) -> dict[str, str]:
    """Installed versions of distributions (without importing them)."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(threads: int) -> dict[str, Any]:
    """What the numbers were measured on (load average taken now, at the start)."""
    load = os.getloadavg()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "versions": versions("torch", "transformers", "peft", "pytorch-lightning", "trl"),
        "load_avg_start": [round(x, 2) for x in load],
        "torch_threads": threads,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": git_commit(),
    }


def git_commit() -> str:
    """The checked-out commit, with "+dirty" when tracked files differ from it."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if head.returncode != 0 or status.returncode != 0:
        return (head.stdout.strip() or "unknown") + "+unknown-state"
    return head.stdout.strip() + ("+dirty" if status.stdout.strip() else "")


def machine_line(info: dict[str, Any]) -> str:
    """One markdown line describing the machine."""
    v = info["versions"]
    load = ", ".join(f"{x:.2f}" for x in info["load_avg_start"])
    end = ", ".join(f"{x:.2f}" for x in info.get("load_avg_end", []))
    return (
        f"Machine: {info['cores']} cores ({info['cpu']}), Python {info['python']}, torch "
        f"{v['torch']}, transformers {v['transformers']}, peft {v['peft']}, Lightning "
        f"{v['pytorch-lightning']}, TRL {v['trl']}; {info['torch_threads']} torch thread(s) per "
        f"process; load average at start {load}, at end {end or '-'} (1/5/15 min; the "
        f"machine is shared); {info['date']}; commit "
        f"{info.get('commit', 'unknown')[:12]}."
    )


def compose(overrides: list[str]) -> Any:
    """The composed, typed train config for overrides (as train.py would see it)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from framework.config.schema import register_schemas
    from framework.methods.discovery import discover_methods

    os.environ.setdefault("HYDRATUNE_ROOT", str(ROOT))
    register_schemas()
    discover_methods(ROOT / "plugins")
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


Stamp = tuple[int, float, int, float]  # step, unix time, tokens, process CPU seconds


def read_step_csv(path: Path) -> list[Stamp]:
    """(step, unix time, tokens, CPU seconds) per optimizer step, from a step_times.csv."""
    with path.open() as handle:
        return [
            (int(r["step"]), float(r["unix_time"]), int(r["tokens"]), float(r["cpu_seconds"]))
            for r in csv.DictReader(handle)
        ]


def steady(rows: list[Stamp], warmup: int) -> tuple[float, float, float]:
    """(seconds per step, tokens per second, CPU seconds per step) after the first `warmup`.

    The window runs from the end of step `warmup` to the end of the last step, so it holds
    every cost paid between steps (data, logging, callbacks), not only forward/backward.
    """
    if len(rows) <= warmup + 1:
        raise SystemExit(f"need more than {warmup + 1} steps to measure, got {len(rows)}")
    window = rows[warmup:]
    seconds = window[-1][1] - window[0][1]
    steps = len(window) - 1
    tokens = sum(r[2] for r in window[1:])
    cpu = window[-1][3] - window[0][3]
    return seconds / steps, tokens / seconds, cpu / steps


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))


@dataclass(frozen=True)
class Setting:
    """Run size of a benchmark case: steps, warm-up steps excluded from timing, batch, length."""

    steps: int
    warmup: int
    batch: int
    max_length: int


def peak_rss_self_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def train_py(overrides: list[str]) -> list[str]:
    """The command line of a hydratune run."""
    return [PY, str(ROOT / "train.py"), *overrides]


def first_loss(metrics_csv: Path) -> float | None:
    """The first logged train/loss of a run (logs/metrics.csv)."""
    if not metrics_csv.is_file():
        return None
    with metrics_csv.open() as handle:
        for row in csv.DictReader(handle):
            value = row.get("train/loss", "")
            if value:
                return float(value)
    return None


@functools.cache
def cheap_validation() -> tuple[str, ...]:
    """Extra overrides making the validation passes around training as cheap as possible."""
    cfg = compose([])
    extra = []
    if "generate_rows" in cfg.task:  # greedy generation at each validation: off
        extra.append("task.generate_rows=0")
    return tuple(extra)


def measure(rows: list[Stamp], warmup: int) -> dict[str, float]:
    """Steady-state numbers of one run (see `steady`) and how long its timed window was."""
    per_step, tok_s, cpu = steady(rows, warmup)
    return {
        "s_per_step": per_step,
        "tokens_per_s": tok_s,
        "cpu_s_per_step": cpu,
        "tokens_per_step": sum(r[2] for r in rows[warmup + 1 :]) / (len(rows) - warmup - 1),
        "timed_s": rows[-1][1] - rows[warmup][1],
        "steps": len(rows),
    }


def hydratune_side(case: list[str], tag: str, work: Path, warmup: int, threads: int) -> dict:
    """One `train.py` run of `case` in a fresh process: its steady-state numbers and peaks."""
    import shutil

    run_dir, log = work / tag, work / f"{tag}.log"
    shutil.rmtree(run_dir, ignore_errors=True)
    child = run_child(train_py([*case, f"hydra.run.dir={run_dir}"]), log, thread_env(threads))
    require_ok(child, log, tag)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        **measure(read_step_csv(run_dir / "step_times.csv"), warmup),
        "peak_mib": float(metrics["peak_memory_mib"]),
        "process_peak_mib": child.max_rss_mib,
        "first_loss": first_loss(run_dir / "logs" / "metrics.csv"),
        "wall_s": child.wall_s,
    }


def worker_side(
    script: Path, case: list[str], tag: str, work: Path, warmup: int, threads: int, *flags: str
) -> dict:
    """One run of a bench worker (`script FLAGS --worker RESULT -- overrides`): same numbers."""
    result, log = work / f"{tag}.json", work / f"{tag}.log"
    cmd = [PY, str(script), *flags, "--worker", str(result), "--", *case]
    child = run_child(cmd, log, thread_env(threads))
    require_ok(child, log, tag)
    data = json.loads(result.read_text())
    rows: list[Stamp] = [tuple(x) for x in data["stamps"]]  # type: ignore[misc]
    return {
        **measure(rows, warmup),
        "peak_mib": float(data["peak_train_mib"]),
        "process_peak_mib": child.max_rss_mib,
        "first_loss": data.get("first_loss"),
        "wall_s": child.wall_s,
    }


@functools.cache
def option_available(override: str) -> bool:
    """Whether this tree's config accepts `override` (e.g. optim=adamw_8bit): rows of options
    another change adds say "option not available in this tree" instead of failing."""
    try:
        compose([override])
    except Exception:  # noqa: BLE001 - Hydra raises several kinds for an unknown key or option
        return False
    return True
