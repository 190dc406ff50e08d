"""`make gpu-check`: bf16 LoRA, QLoRA (NF4, double quant, bf16 compute), DoRA and full
fine-tuning on one CUDA GPU, on random-initialised models with the real shapes of SmolLM2-135M,
Phi-3-mini (3.8B) and Llama-3-8B, plus ZeRO-3 with offload for the 8B; writes docs/gpu-matrix.md.

The GPU machine has no network and one run of at most 10 minutes: the wheels it lacks come in
.whl/ (`make gpu-wheels`), installed here with --no-index; no weights are needed (memory and
speed depend on the shapes only). Each cell is one short `train.py` run: its dry-run estimate
(framework/hardware/memory.py), measured peak GPU memory, tokens/s and MFU.

    make gpu-check ARGS=--dry-run     # here: the command, the wheels folder and its size
    make gpu-check                    # on the GPU machine
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_matrix import MODELS, Cell, cells, flops_per_token, write  # noqa: E402
from gpu_wheels import BUILT, FOLDER, PURE, report  # noqa: E402
from gpu_wheels import size_mib as wheels_mib  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 560  # the machine allows one 10-minute run: leave time to write the table
PACKAGES = (*PURE, *BUILT, "bitsandbytes", "deepspeed")
CARRY = (".whl", ".cache/tokenizers")  # the tokenizer every model here uses (SmolLM2's)
PEAK = re.compile(r"peak ~([\d,]+) MiB")


@dataclass
class Result:
    """One cell's outcome."""

    model: str
    method: str
    hardware: str
    status: str  # trained | refused | failed | skipped
    detail: str = ""
    estimate_mib: float | None = None
    peak_mib: float | None = None
    tokens_per_s: float | None = None
    mfu: float | None = None


def train(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, str(ROOT / "train.py"), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def tokens_per_s(step_times: Path) -> float | None:
    """Real tokens per second after the first two steps (bench/harness.py `steady`)."""
    from harness import read_step_csv, steady

    rows = read_step_csv(step_times)
    return steady(rows, 2)[1] if len(rows) > 3 else None


def run_cell(cell: Cell, folder: Path, timeout: float, peak_flops: float | None) -> Result:
    args = [*cell.overrides(), f"hydra.run.dir={folder}"]
    result = Result(cell.model, cell.method, cell.hardware, "failed")
    dry = train([*args, "run.dry_run=true"], min(timeout, 120))
    found = PEAK.search(dry.stdout)
    result.estimate_mib = float(found.group(1).replace(",", "")) if found else None
    if dry.returncode != 0:
        problems = [line[4:] for line in dry.stdout.splitlines() if line.startswith("  - ")]
        result.status, result.detail = "refused", "; ".join(problems)[:300]
        return result
    started = time.time()
    done = train(args, timeout)
    if done.returncode != 0:
        result.detail = (done.stderr.strip().splitlines()[-1:] or ["(no output)"])[0][:300]
        return result
    metrics = json.loads((folder / "metrics.json").read_text())
    result.status, result.detail = "trained", f"{time.time() - started:.0f} s wall"
    result.peak_mib = float(metrics["peak_memory_mib"])
    result.tokens_per_s = tokens_per_s(folder / "step_times.csv")
    if peak_flops and result.tokens_per_s:
        result.mfu = result.tokens_per_s * flops_per_token(cell) / peak_flops
    return result


def install_wheels() -> None:
    """pip install --no-index the packages of .whl/ that are not importable yet."""
    modules = {"hydra-core": "hydra", "antlr4-python3-runtime": "antlr4"}
    lacking = [p for p in PACKAGES if importlib.util.find_spec(modules.get(p, p)) is None]
    if lacking:
        cmd = [sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(FOLDER)]
        subprocess.run([*cmd, *lacking], check=True)


def gpu() -> tuple[str, float | None]:
    """The GPU's name and its dense bf16 peak FLOP/s (None when not in the table)."""
    import torch

    name = torch.cuda.get_device_name(0)
    table = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
    return name, next((v for k, v in table.items() if k in name), None)


def dry_run_text() -> str:
    carry = ", ".join(CARRY)
    lines = [
        "On the GPU machine (repository root, no network; carry " + carry + "):",
        "  make gpu-check",
        f"  = {Path(sys.executable).name} -m pip install --no-index --find-links .whl "
        + " ".join(PACKAGES),
        "    python bench/gpu_check.py",
        f"Cells ({len(cells())}), each `python train.py <overrides>` after its dry run:",
    ]
    lines += [f"  {c.model:>9} {c.method:<5} {c.hardware:<13} {' '.join(c.overrides())}"
              for c in cells()]  # fmt: skip
    lines.append(f"Wheels folder {FOLDER.relative_to(ROOT)}/: {wheels_mib(FOLDER):.1f} MiB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print what would run; run nothing")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "gpu-matrix.md")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "gpu-check")
    args = parser.parse_args()
    if args.dry_run:
        print(dry_run_text())
        return report(FOLDER)
    install_wheels()
    import torch

    if not torch.cuda.is_available():
        print("gpu-check needs a CUDA GPU and torch sees none; nothing was run", file=sys.stderr)
        return 2
    name, peak_flops = gpu()
    deadline, results = time.time() + BUDGET_S, []
    for cell in [c for c in cells() if c.model in args.models.split(",")]:
        left = deadline - time.time()
        if left < 30:
            results.append(Result(cell.model, cell.method, cell.hardware, "skipped", "time"))
            continue
        folder = args.work / f"{cell.model}-{cell.method}-{cell.hardware}"
        try:
            results.append(run_cell(cell, folder, left, peak_flops))
        except subprocess.TimeoutExpired:
            results.append(Result(cell.model, cell.method, cell.hardware, "failed", "timeout"))
        print(" ".join(str(v) for v in asdict(results[-1]).values()), flush=True)
    write([asdict(r) for r in results], name, peak_flops, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
