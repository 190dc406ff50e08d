"""Rows (b) and (d): hydratune vs TRL's SFTTrainer (bench/trl_worker.py), LoRA on chatterbot.

(b) tokens/s, interleaved pairs, against TRL with its own defaults and against TRL with
settings matched to ours (batch order, loss, packing, gradient checkpointing off on both).
(d) peak RSS at batch 8 x max length 512, gradient checkpointing off and on, ours and TRL's
(matched mode, so only the checkpointing setting differs between the two memory pairs).

    .venv/bin/python bench/vs_trl.py
    BENCH_QUICK=1 .venv/bin/python bench/vs_trl.py
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import overhead  # noqa: E402
from harness import hydratune_side, option_available, quick_mode, worker_side  # noqa: E402
from overhead import Case, overrides  # noqa: E402
from report import SPEED, add, finish, new_result, row_main, unavailable, work_dir  # noqa: E402
from stats import compare, run_pairs  # noqa: E402

TRL = Path(__file__).resolve().parent / "trl_worker.py"
GC = "trainer.gradient_checkpointing=true"

# (b): overhead.py's job with its >= 60 s window (TRL's slower steps make its window longer; a
# step of the pair averages ~1.7 s); (d): 8 x 512, 3 steps (the peak only), two pairs each.
FULL = Case("smollm2_135m", "lora", 2, 128, overhead.FULL.steps, 2, 2, 0, 1.7, 30.0)
FULL_MEMORY = Case("smollm2_135m", "lora", 8, 512, 3, 1, 2, 0, 14.0, 30.0)
QUICK = Case("tiny", "lora", 4, 64, 5, 1, 1, 0, 0.1, 15.0)
QUICK_MEMORY = Case("tiny", "lora", 8, 512, 3, 1, 1, 0, 0.3, 15.0)


def cases() -> tuple[Case, Case]:
    return (QUICK, QUICK_MEMORY) if quick_mode() else (FULL, FULL_MEMORY)


def estimate_s() -> float:
    speed, memory = cases()
    return 2 * speed.estimate_s() + 2 * memory.estimate_s()  # defaults+matched; gc off+on


def speed_rows(result: dict[str, Any], c: Case, threads: int) -> None:
    args = overrides(c)
    work = work_dir("vs_trl")

    def trl(mode: str) -> Any:
        return lambda i: worker_side(TRL, args, f"trl-{mode}-{i}", work, c.warmup, threads,
                                     "--mode", mode)  # fmt: skip

    def hyd(tag: str) -> Any:
        return lambda i: hydratune_side(args, f"hydratune-{tag}-{i}", work, c.warmup, threads)

    for mode in ("defaults", "matched"):
        ours, theirs = run_pairs(c.pairs, hyd(mode), trl(mode))
        result["runs"][f"hydratune (vs {mode})"] = ours
        result["runs"][f"TRL {mode}"] = theirs
        goal = 1.0 if mode == "defaults" else None
        a, b = ([float(r["tokens_per_s"]) for r in runs] for runs in (ours, theirs))
        add(result, compare(f"hydratune / TRL {mode}", "tokens/s", a, b, goal, at_most=False))


def memory_rows(result: dict[str, Any], c: Case, threads: int) -> None:
    work = work_dir("vs_trl")
    for gc in (False, True):
        if gc and not option_available(GC):
            unavailable(result, GC)
            continue
        args = [*overrides(c), *([GC] if gc else [])]
        tag = "gc-on" if gc else "gc-off"

        def hyd(i: int, args: list[str] = args, tag: str = tag) -> dict[str, Any]:
            return hydratune_side(args, f"memory-hydratune-{tag}-{i}", work, c.warmup, threads)

        def trl(i: int, args: list[str] = args, tag: str = tag) -> dict[str, Any]:
            return worker_side(TRL, args, f"memory-trl-{tag}-{i}", work, c.warmup, threads,
                               "--mode", "matched")  # fmt: skip

        ours, theirs = run_pairs(c.pairs, hyd, trl)
        result["runs"][f"hydratune 8x512 {tag}"] = ours
        result["runs"][f"TRL 8x512 {tag}"] = theirs
        a, b = ([float(r["peak_mib"]) for r in runs] for runs in (ours, theirs))
        add(result, compare(f"hydratune / TRL, 8 x 512, checkpointing {tag[3:]}",
                            "peak RSS", a, b, 1.0, at_most=True))  # fmt: skip


def run(threads: int = 1) -> dict[str, Any]:
    speed, memory = cases()
    settings = {"speed": asdict(speed), "memory": asdict(memory)}
    result = new_result("vs_trl", "hydratune vs TRL SFTTrainer", settings, threads)
    result["settings"]["overrides"] = overrides(speed)
    result["settings"]["memory_overrides"] = overrides(memory)
    speed_rows(result, speed, threads)
    memory_rows(result, memory, threads)
    return finish(result, SPEED)


if __name__ == "__main__":
    row_main(__doc__, run, "torch threads, both sides")
