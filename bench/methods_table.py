"""Every method on SmolLM2-135M-Instruct, same data, steps and seed: docs/methods.md + .csv.

Each method is one `train.py` subprocess on CPU (fresh process: a clean peak-RSS reading);
the numbers come from its metrics.json and its run dir. Raw numbers go to docs/methods.csv.

    make methods-table                      # every registered method (built-ins + plugins/)
    .venv/bin/python bench/methods_table.py --methods lora,qlora --reuse
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from framework.methods.discovery import discover_methods  # noqa: E402
from framework.methods.registry import get_method, method_names  # noqa: E402

STEPS = 8
SEED = 42
THREADS = 1  # one torch thread per run: the numbers do not depend on other load on the machine
COMMON = [
    "model=smollm2_135m",
    "hardware=cpu",
    "dataset=chatterbot",
    "dataset.max_length=48",
    "dataset.limit=400",
    "dataset.val_max_rows=8",
    "dataset.batch_size=2",
    "dataset.eval_batch_size=8",
    "optim=adamw",
    "optim.warmup_steps=2",
    "optim.scheduler=cosine",
    "trainer.enable_progress_bar=false",
    "run.save_checkpoints=false",
    "logger=csv",
]
DEFAULT_LR = 2e-4
# The learning rate each method is usually trained with (papers / PEFT examples); everything
# else (data, order, steps, seed, schedule, sequence length, batch) is the same for all.
LEARNING_RATES = {
    "full": 2e-5,
    "freeze": 5e-5,
    "ia3": 3e-3,
    "vera": 1e-2,
    "prefix": 1e-2,
    "prompt": 3e-2,
    "ptuning": 1e-3,
    "adalora": 1e-3,
    "oft": 1e-4,
}


@dataclass
class Row:
    """One method's measured numbers (a row of docs/methods.csv)."""

    method: str
    status: str
    lr: float
    trainable_parameters: int | None = None
    total_parameters: int | None = None
    trainable_percent: float | None = None
    peak_rss_mib: float | None = None
    seconds_per_step: float | None = None
    cpu_seconds_per_step: float | None = None
    val_loss_before: float | None = None
    val_loss_after: float | None = None
    weights_bytes: int | None = None
    weights_kind: str = ""
    wall_time_s: float | None = None


def run_method(name: str, steps: int, threads: int, out: Path, reuse: bool) -> Row:
    """Train one method in a subprocess (or reuse its finished run dir) and read its numbers."""
    lr = LEARNING_RATES.get(name, DEFAULT_LR)
    run_dir = out / name
    metrics_file = run_dir / "metrics.json"
    if not (reuse and metrics_file.is_file()):
        args = [
            *COMMON,
            f"method={name}",
            f"optim.lr={lr}",
            f"trainer.max_steps={steps}",
            f"run.seed={SEED}",
            f"hydra.run.dir={run_dir}",
        ]
        log = out / f"{name}.log"
        started = time.perf_counter()
        with log.open("w") as handle:
            code = subprocess.call(
                [sys.executable, str(ROOT / "train.py"), *args],
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env={**os.environ, **thread_env(threads), "HYDRA_FULL_ERROR": "1"},
            )
        print(f"{name}: exit {code} in {time.perf_counter() - started:.0f}s (log: {log})")
        if code != 0 or not metrics_file.is_file():
            return Row(name, f"failed (exit {code}, see {log.name})", lr)
    metrics = json.loads(metrics_file.read_text())
    weights = run_dir / ("adapter" if (run_dir / "adapter").is_dir() else "model")
    return Row(
        method=name,
        status="ok",
        lr=lr,
        trainable_parameters=int(metrics["trainable_parameters"]),
        total_parameters=int(metrics["total_parameters"]),
        trainable_percent=float(metrics["trainable_percent"]),
        peak_rss_mib=float(metrics["peak_memory_mib"]),
        seconds_per_step=float(metrics["seconds_per_step"]),
        cpu_seconds_per_step=float(metrics["cpu_seconds_per_step"]),
        val_loss_before=float(metrics["val_loss_before"]),
        val_loss_after=float(metrics["val_loss_after"]),
        weights_bytes=sum(f.stat().st_size for f in weights.rglob("*") if f.is_file()),
        weights_kind=weights.name,
        wall_time_s=float(metrics["wall_time_s"]),
    )


def thread_env(threads: int) -> dict[str, str]:
    """Environment pinning torch's intra-op thread pool."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}


def write_csv(rows: list[Row], path: Path) -> None:
    """The raw numbers, one row per method."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(r) for r in rows)


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size, unit = float(n), "B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"


def fmt(value: float | int | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(rows: list[Row], steps: int, threads: int, command: str) -> str:
    """docs/methods.md: the table, how it was made, and what the columns mean."""
    lines = [
        "# Methods table",
        "",
        "Every registered method (built-ins and `plugins/`) fine-tuned on SmolLM2-135M-Instruct "
        f"with the same data, order, {steps} optimizer steps and seed {SEED}, on CPU, one "
        "`train.py` process per method. Produced by:",
        "",
        "```bash",
        command,
        "```",
        "",
        "| method | trains | trainable params | % of model | peak RSS (MiB) | s/step "
        "| CPU s/step | val loss before | val loss after | saved weights | lr | mergeable |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
        *table_rows(rows),
        *how_measured(steps, threads),
    ]
    return "\n".join(lines)


def table_rows(rows: list[Row]) -> list[str]:
    """One table line per method."""
    lines = []
    for r in rows:
        caps = get_method(r.method).cls.capabilities
        if r.status != "ok":
            lines.append(f"| {r.method} | {caps.description} | {r.status} | | | | | | | | | |")
            continue
        lines.append(
            f"| {r.method} | {caps.description} | {fmt(r.trainable_parameters, ',')} "
            f"| {fmt(r.trainable_percent, '.3f')} | {fmt(r.peak_rss_mib, '.0f')} "
            f"| {fmt(r.seconds_per_step, '.2f')} | {fmt(r.cpu_seconds_per_step, '.2f')} "
            f"| {fmt(r.val_loss_before, '.4f')} "
            f"| {fmt(r.val_loss_after, '.4f')} | {human_bytes(r.weights_bytes)} ({r.weights_kind}) "
            f"| {r.lr:g} | {'yes' if caps.mergeable else 'no'} |"
        )
    return lines


def how_measured(steps: int, threads: int) -> list[str]:
    """The section under the table: settings and what each column means."""
    settings = " ".join(COMMON)
    return [
        "",
        "## How it was measured",
        "",
        f"- Settings shared by every run: `{settings} trainer.max_steps={steps} "
        f"run.seed={SEED}`. Only `method=` and `optim.lr=` differ; the learning rate is the "
        "one each method is usually trained with (bench/methods_table.py, LEARNING_RATES).",
        "- **trainable params**: parameters with requires_grad after the method is applied "
        "(`metrics.json: trainable_parameters`); % is of all parameters of the adapted model "
        "(for 4-bit bases that count is of packed storage, hence smaller).",
        "- **peak RSS**: the training process's peak resident memory (getrusage), which "
        "includes Python, torch and the data (the fp32 base alone is 135M x 4 bytes, ~515 MiB).",
        "- **s/step**: mean wall time of one optimizer step (forward, backward, step), "
        "excluding validation; **CPU s/step**: the process CPU time of the same steps, "
        "which other load on a shared machine does not inflate.",
        "- **val loss**: mean token loss on the same 8 held-out chatterbot pairs, before and "
        f"after the {steps} steps. Eight steps measure cost, not quality: use a sweep "
        "for quality. "
        "The loss before differs where the method changes the model before any step: "
        "qlora/qdora/lora_8bit quantize the base, and prompt-type methods start from random "
        "virtual tokens (prefix tuning's random keys/values disturb every layer).",
        "- **saved weights**: size on disk of the run dir's `adapter/` (PEFT format) or, for "
        "full and freeze, the whole `model/`.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} CPU cores shared with other work; "
        f"each run uses {threads} torch thread(s) (OMP_NUM_THREADS), Python "
        f"{platform.python_version()}; precision 32-true, 4-bit compute dtype float32.",
        "",
        "Raw numbers: [methods.csv](methods.csv).",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--threads", type=int, default=THREADS, help="torch threads per run")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "methods-table")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--reuse", action="store_true", help="keep finished runs in --out")
    args = parser.parse_args()
    discover_methods(ROOT / "plugins")
    names = [m for m in args.methods.split(",") if m] or method_names()
    args.out.mkdir(parents=True, exist_ok=True)
    args.docs.mkdir(parents=True, exist_ok=True)
    command = "make methods-table" if not args.methods else " ".join(["python", *sys.argv])
    rows: list[Row] = []
    for name in names:  # rewrite the docs after every method: an interrupted run keeps its rows
        rows.append(run_method(name, args.steps, args.threads, args.out, args.reuse))
        pending = [Row(n, "not measured (the table run stopped before it)", 0.0) for n in names]
        done = rows + pending[len(rows) :]
        write_csv(done, args.docs / "methods.csv")
        text = markdown(done, args.steps, args.threads, command)
        (args.docs / "methods.md").write_text(text)
    print(f"wrote {args.docs / 'methods.md'} and {args.docs / 'methods.csv'}")


if __name__ == "__main__":
    main()
