"""Rows (c), (e) and (g), hydratune only: packing on a mixed-length corpus, throughput over
sequence lengths, and 1 vs 2 CPU ranks.

(c) debian_policy (one Debian Policy / FHS paragraph a row: a few to several hundred tokens) at
max length 512, `dataset.packing=true` vs false, interleaved pairs; tokens/s counts real
tokens (the batch's attention mask: no padding), so packing wins only by wasting less.
(e) packed debian_policy at max length 128 ... 2048 (every sequence full), batch 1: tokens/s.
(g) chatterbot, `hardware=cpu` vs `hardware=cpu_ddp` (two processes, gloo), one torch thread
per process: rows/s of the global batch (rank 0 stamps the steps).

    .venv/bin/python bench/throughput.py
    BENCH_QUICK=1 .venv/bin/python bench/throughput.py
"""

from __future__ import annotations

import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import hydratune_side, quick_mode, steps_for_window  # noqa: E402
from overhead import Case, overrides  # noqa: E402
from report import SPEED, add, finish, new_result, row_main, work_dir  # noqa: E402
from stats import compare, run_pairs  # noqa: E402

PACKING_GOAL = 1.5
# Full mode: each run's timed window >= 60 s (harness.steps_for_window) at the quiet-machine step
# times: a packed 512-token step ~6 s, an unpacked one (rows of ~70 tokens) ~1.1 s, one rank
# of the ranks row ~1.3 s (two ranks: ~1.7 s).
FULL = {
    "packing": Case("smollm2_135m", "lora", 1, 512, steps_for_window(6.0, 1), 1, 3, 0, 6.0, 30.0),
    "unpacked": Case("smollm2_135m", "lora", 1, 512, steps_for_window(1.2, 1), 1, 3, 0, 1.2, 30.0),
    "lengths": Case("smollm2_135m", "lora", 1, 0, 0, 1, 1, 0, 0.0, 30.0),
    "ranks": Case("smollm2_135m", "lora", 2, 128, steps_for_window(1.2, 2), 2, 2, 0, 1.5, 35.0),
}
QUICK = {
    "packing": Case("tiny", "lora", 2, 512, 5, 1, 1, 0, 0.3, 15.0),
    "unpacked": Case("tiny", "lora", 2, 512, 5, 1, 1, 0, 0.3, 15.0),
    "lengths": Case("tiny", "lora", 1, 0, 3, 1, 1, 0, 0.0, 15.0),
    "ranks": Case("tiny", "lora", 4, 64, 5, 1, 1, 0, 0.1, 20.0),
}
LENGTHS = (128, 512, 2048)
QUICK_LENGTHS = (128, 2048)
SMOLLM2_TOKENS_PER_S = 80.0  # one thread, quiet (~45 at 2048): the steps and estimate of (e)


def cases() -> dict[str, Case]:
    return QUICK if quick_mode() else FULL


def lengths() -> tuple[int, ...]:
    return QUICK_LENGTHS if quick_mode() else LENGTHS


def length_steps(c: Case, n: int) -> int:
    """Steps of the max-length-`n` run: the case's in quick mode, a >= 60 s window in full."""
    return c.steps if quick_mode() else steps_for_window(n / SMOLLM2_TOKENS_PER_S, c.warmup)


def estimate_s() -> float:
    c = cases()
    rate = 2000.0 if quick_mode() else SMOLLM2_TOKENS_PER_S
    lc = c["lengths"]
    per_length = [lc.start_s + length_steps(lc, n) * n / rate for n in lengths()]
    packing = (c["packing"].estimate_s() + c["unpacked"].estimate_s()) / 2  # one side each
    return packing + c["ranks"].estimate_s() + sum(per_length)


def corpus(c: Case, packing: bool) -> list[str]:
    """The case on debian_policy, packed or not (limit: enough rows for every step)."""
    args = [a for a in overrides(c) if not a.startswith(("dataset=", "dataset.limit="))]
    rows = c.steps * c.batch * (c.max_length // 12 if packing else 1) + 16  # >= 12 tokens a row
    return ["dataset=debian_policy", f"dataset.packing={str(packing).lower()}",
            f"dataset.limit={rows}", *args]  # fmt: skip


def tokens_per_s(runs: list[dict[str, Any]], what: str) -> list[float]:
    values = [float(r["tokens_per_s"]) for r in runs]
    if not all(values):
        raise SystemExit(f"{what}: step_times.csv counted no tokens (no attention mask)")
    return values


def packing_row(result: dict[str, Any], c: Case, u: Case, threads: int) -> None:
    """`c`: the packed side's case, `u`: the unpacked side's (more, shorter steps)."""
    work = work_dir("throughput")

    def side(packing: bool) -> Any:
        tag, case = ("packed", c) if packing else ("unpacked", u)
        args = corpus(case, packing)
        return lambda i: hydratune_side(args, f"{tag}-{i}", work, case.warmup, threads)

    packed, unpacked = run_pairs(c.pairs, side(True), side(False))
    result["runs"] |= {"packed (debian_policy, 512)": packed, "unpacked": unpacked}
    a, b = tokens_per_s(packed, "packed"), tokens_per_s(unpacked, "unpacked")
    add(result, compare("packed / unpacked", "real tokens/s", a, b, PACKING_GOAL, at_most=False))


def lengths_row(result: dict[str, Any], c: Case, threads: int) -> None:
    work = work_dir("throughput")
    runs = []
    for n in lengths():
        case = corpus(replace(c, max_length=n, steps=length_steps(c, n)), True)
        runs.append({"max_length": n, **hydratune_side(case, f"length-{n}", work, c.warmup,
                                                       threads)})  # fmt: skip
    result["runs"]["sequence length (packed, batch 1)"] = runs


def ranks_row(result: dict[str, Any], c: Case, threads: int) -> None:
    work = work_dir("throughput")

    def side(ranks: int) -> Any:
        args = [a for a in overrides(c) if not a.startswith(("hardware=", "dataset.limit="))]
        limit = c.steps * c.batch * 2 + 16  # each of the two ranks reads half the rows
        args += [f"dataset.limit={limit}", "hardware=cpu_ddp" if ranks == 2 else "hardware=cpu"]
        return lambda i: hydratune_side(args, f"ranks-{ranks}-{i}", work, c.warmup, threads)

    two, one = run_pairs(c.pairs, side(2), side(1))
    result["runs"] |= {"2 ranks (cpu_ddp)": two, "1 rank (cpu)": one}
    a = [2 * c.batch / float(r["s_per_step"]) for r in two]
    b = [c.batch / float(r["s_per_step"]) for r in one]
    add(result, compare("2 ranks / 1 rank", "rows/s (global batch)", a, b))


def run(threads: int = 1) -> dict[str, Any]:
    c = cases()
    settings = {name: asdict(case) for name, case in c.items()} | {"lengths": list(lengths())}
    result = new_result("throughput", "Packing, sequence length, CPU ranks", settings, threads)
    packing_row(result, c["packing"], c["unpacked"], threads)
    lengths_row(result, c["lengths"], threads)
    ranks_row(result, c["ranks"], threads)
    return finish(result, ("max length", *SPEED))


if __name__ == "__main__":
    row_main(__doc__, run, "torch threads per process")
