"""Row (a), framework overhead: `train.py` vs the hand-written loop of bench/raw_loop.py.

Both sides load the same base through the framework's loader, train on the same encoded
chatterbot rows in the same seeded order, compute the loss on the same positions (LM head on
labelled positions only), with the same batch, length, AdamW, learning rate, clipping and
steps, each in a fresh process with the same torch thread count. Pairs are interleaved
(raw hydratune, hydratune raw, ...); the ratio is taken per pair. A raw-vs-raw control run the
same way is the noise floor: a ratio the control cannot tell from 1 is not resolved.

    .venv/bin/python bench/overhead.py                 # SmolLM2 LoRA, the default job's step
    BENCH_QUICK=1 .venv/bin/python bench/overhead.py   # tiny model, a smoke run
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    cheap_validation,
    hydratune_side,
    quick_mode,
    steps_for_window,
    worker_side,
)
from report import add, finish, new_result, row_main, work_dir  # noqa: E402
from stats import compare, run_pairs  # noqa: E402

RAW = Path(__file__).resolve().parent / "raw_loop.py"
GOAL = 1.03


@dataclass(frozen=True)
class Case:
    """The measured job and how many pairs of runs; `s_per_step` (expected) and `start_s` (process
    start to the first step) feed the time estimate."""

    model: str
    method: str
    batch: int
    max_length: int
    steps: int
    warmup: int
    pairs: int
    control_pairs: int
    s_per_step: float
    start_s: float

    def estimate_s(self) -> float:
        runs = 2 * (self.pairs + self.control_pairs)
        return runs * (self.start_s + self.steps * self.s_per_step)


# SmolLM2 LoRA, batch 2, max length 128: ~1.2 s a step on one thread (~100 real tokens/s), a
# timed window of >= 60 s after the 2 warm-up steps; 6 pairs, and 3 raw-vs-raw control pairs.
FULL_STEP_S = 1.2
FULL = Case("smollm2_135m", "lora", 2, 128, steps_for_window(FULL_STEP_S, 2), 2, 6, 3,
            FULL_STEP_S, 25.0)  # fmt: skip
QUICK = Case("tiny", "lora", 4, 64, 8, 2, 2, 1, 0.1, 12.0)


def case() -> Case:
    return QUICK if quick_mode() else FULL


def overrides(c: Case) -> list[str]:
    """train.py overrides of the case (the raw loop composes the same config)."""
    return [
        f"model={c.model}",
        f"method={c.method}",
        "hardware=cpu",
        "dataset=chatterbot",
        f"dataset.max_length={c.max_length}",
        f"dataset.batch_size={c.batch}",
        f"dataset.limit={c.steps * c.batch + 16}",  # one epoch covers every step
        "dataset.val_max_rows=1",  # validation around training: one row (outside the timing)
        "dataset.eval_batch_size=1",
        "optim=adamw",
        "optim.lr=0.0002",
        "optim.scheduler=constant",
        "optim.warmup_steps=0",
        "trainer.gradient_clip_val=1.0",
        f"trainer.max_steps={c.steps}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "run.seed=42",
        "run.save_checkpoints=false",
        "run.resume=never",
        "run.step_times=true",
        *cheap_validation(),
    ]


def run(threads: int = 1) -> dict[str, Any]:
    c = case()
    args = overrides(c)
    work = work_dir("overhead")
    result = new_result("overhead", "Framework overhead vs a matched raw loop", asdict(c), threads)
    result["settings"]["overrides"] = args

    def raw(tag: str) -> Any:
        return lambda i: worker_side(RAW, args, f"{tag}-{i}", work, c.warmup, threads)

    def hyd(i: int) -> dict[str, Any]:
        return hydratune_side(args, f"hydratune-{i}", work, c.warmup, threads)

    hyd_runs, raw_runs = run_pairs(c.pairs, hyd, raw("raw"))
    ctl_a, ctl_b = run_pairs(c.control_pairs, raw("control-a"), raw("control-b"))
    result["runs"] = {"hydratune": hyd_runs, "raw": raw_runs, "raw (control A)": ctl_a}
    result["runs"]["raw (control B)"] = ctl_b

    def values(runs: list[dict[str, Any]], key: str) -> list[float]:
        return [float(r[key]) for r in runs]

    add(result, compare("hydratune / raw", "s/step", values(hyd_runs, "s_per_step"),
                        values(raw_runs, "s_per_step"), GOAL, at_most=True))  # fmt: skip
    add(result, compare("raw / raw (control: noise floor)", "s/step",
                        values(ctl_a, "s_per_step"), values(ctl_b, "s_per_step")))  # fmt: skip
    add(result, compare("hydratune / raw", "CPU s/step", values(hyd_runs, "cpu_s_per_step"),
                        values(raw_runs, "cpu_s_per_step")))  # fmt: skip
    add(result, compare("hydratune / raw", "peak RSS", values(hyd_runs, "peak_mib"),
                        values(raw_runs, "peak_mib")))  # fmt: skip
    headers = ("s/step", "CPU s/step", "timed s", "tokens/s", "peak RSS MiB", "step-1 loss")
    return finish(result, headers)


if __name__ == "__main__":
    row_main(__doc__, run, "torch threads, both sides")
