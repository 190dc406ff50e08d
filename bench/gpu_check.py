"""The GPU matrix: every GPU-capable hardware preset x a set of methods, on a CUDA machine.

Each cell is one `train.py` subprocess (short run); it records whether the combination was
refused before launch (and why), trained, or failed, with the measured peak GPU memory, the
dry-run estimate, the step time and the losses. Writes docs/gpu-matrix.md and .csv.

    make gpu-check                                   # needs at least one CUDA GPU
    .venv/bin/python bench/gpu_check.py --presets single_gpu,zero2 --methods lora,qlora

Multi-GPU presets (multi_gpu, zero*, fsdp) use every visible GPU; with one GPU they run one
process, which still exercises the strategy code paths.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRESETS = ("single_gpu", "multi_gpu", "zero1", "zero2", "zero2_offload", "zero3", "zero3_offload")
PRESETS += ("fsdp",)
METHODS = ("full", "lora", "qlora", "dora")
COMMON = [
    "dataset=chatterbot",
    "dataset.max_length=256",
    "dataset.limit=512",
    "dataset.val_max_rows=16",
    "dataset.batch_size=4",
    "trainer.max_steps=10",
    "trainer.enable_progress_bar=false",
    "run.save_checkpoints=false",
]
PEAK = re.compile(r"peak ~([\d,]+) MiB")


@dataclass
class Cell:
    """One preset x method result."""

    preset: str
    method: str
    status: str  # trained | refused | failed
    detail: str = ""
    estimate_mib: float | None = None
    peak_mib: float | None = None
    seconds_per_step: float | None = None
    val_loss_before: float | None = None
    val_loss_after: float | None = None


def run(args: list[str], output: Path, timeout: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *args, f"paths.output_dir={output}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check(preset: str, method: str, model: str, timeout: int) -> Cell:
    args = [f"model={model}", f"hardware={preset}", f"method={method}", *COMMON]
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        dry = run([*args, "run.dry_run=true"], Path(folder), 120)
        found = PEAK.search(dry.stdout)
        estimate = float(found.group(1).replace(",", "")) if found else None
        if dry.returncode != 0:
            problems = [line[4:] for line in dry.stdout.splitlines() if line.startswith("  - ")]
            return Cell(preset, method, "refused", "; ".join(problems), estimate)
        started = time.perf_counter()
        result = run(args, Path(folder), timeout)
        if result.returncode != 0:
            tail = result.stderr.strip().splitlines()[-1:] or ["(no output)"]
            return Cell(preset, method, "failed", tail[0][:200], estimate)
        metrics = json.loads(next(Path(folder).rglob("metrics.json")).read_text())
        return Cell(
            preset,
            method,
            "trained",
            f"{time.perf_counter() - started:.0f} s wall",
            estimate,
            metrics["peak_memory_mib"],
            metrics["seconds_per_step"],
            metrics["val_loss_before"],
            metrics["val_loss_after"],
        )


def gpu_description() -> str:
    found = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
        capture_output=True,
        text=True,
    )
    return "; ".join(found.stdout.strip().splitlines()) or "unknown"


def fmt(value: float | None, digits: int = 0) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def write(cells: list[Cell], model: str, target: Path) -> None:
    lines = [
        "# GPU matrix",
        "",
        f"`make gpu-check` on {gpu_description()} ({platform.node()}), model={model}, "
        f"{' '.join(COMMON)}.",
        "Peak = torch.cuda.max_memory_allocated of rank 0; estimate = the dry run's per-device",
        "peak. Refused = stopped before launch by the combination checks (the reason shown).",
        "",
        "| preset | method | status | estimate MiB | peak MiB | s/step | val loss | detail |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for c in cells:
        loss = f"{c.val_loss_before:.3f} -> {c.val_loss_after:.3f}" if c.val_loss_after else ""
        lines.append(
            f"| {c.preset} | {c.method} | {c.status} | {fmt(c.estimate_mib)} | "
            f"{fmt(c.peak_mib)} | {fmt(c.seconds_per_step, 2)} | {loss} | {c.detail} |"
        )
    target.write_text("\n".join(lines) + "\n")
    with target.with_suffix(".csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(cells[0])))
        writer.writeheader()
        writer.writerows(asdict(c) for c in cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--model", default="smollm2_135m")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per training run")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/gpu-matrix.md")
    args = parser.parse_args()
    probe = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
        capture_output=True,
        text=True,
    )
    if probe.stdout.strip() in ("", "0"):
        print("gpu-check needs a CUDA GPU and torch sees none; nothing was run", file=sys.stderr)
        return 2
    cells = []
    for preset in args.presets.split(","):
        for method in args.methods.split(","):
            cells.append(check(preset, method, args.model, args.timeout))
            print(f"{preset:>14} x {method:<6} {cells[-1].status} {cells[-1].detail}")
    write(cells, args.model, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
