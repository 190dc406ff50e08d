"""Row (h), per-step options on and off: torch.compile, 8-bit AdamW, length-grouped batches.

(h1) `trainer.compile=true` vs off on overhead.py's job (SmolLM2 LoRA, batch 2 x 128):
tokens/s; compilation (and the recompiles of the first new shapes) falls in the warm-up steps.
(h2) `optim=adamw_8bit` vs `optim=adamw` with `method=full`, where optimizer state is a
weight-sized cost (two fp32 moments per parameter vs two 8-bit ones): peak RSS.
(h3) `dataset.group_by_length=true` vs false on debian_policy paragraphs, unpacked, batch 4 x
max length 512: real tokens/s (padding is not counted, so grouping wins only by padding less).

    .venv/bin/python bench/options.py
    BENCH_QUICK=1 .venv/bin/python bench/options.py
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import hydratune_side, option_available, quick_mode, steps_for_window  # noqa: E402
from overhead import Case, overrides  # noqa: E402
from report import SPEED, add, finish, new_result, row_main, unavailable, work_dir  # noqa: E402
from stats import compare, run_pairs  # noqa: E402
from throughput import corpus  # noqa: E402

# Quiet-machine step times: LoRA 2 x 128 ~1.2 s; full fine-tuning ~4 s; grouped batches of
# debian_policy (~270 real tokens a batch of 4) ~2.5 s (ungrouped ones pad to their longest row).
FULL = {
    "compile": Case("smollm2_135m", "lora", 2, 128, steps_for_window(1.2, 6), 6, 2, 0, 1.2, 90.0),
    "optimizer": Case("smollm2_135m", "full", 2, 128, 3, 1, 2, 0, 5.0, 30.0),
    "grouping": Case("smollm2_135m", "lora", 4, 512, steps_for_window(2.5, 1), 1, 2, 0, 2.5, 30.0),
}
QUICK = {
    "compile": Case("tiny", "lora", 4, 64, 8, 4, 1, 0, 0.1, 60.0),
    "optimizer": Case("tiny", "full", 4, 64, 3, 1, 1, 0, 0.1, 15.0),
    "grouping": Case("tiny", "lora", 4, 512, 5, 1, 1, 0, 0.3, 15.0),
}
SWITCHES = {  # case -> (the option's override, the baseline's, what the comparison reads)
    "compile": ("trainer.compile=true", "trainer.compile=false", "tokens_per_s"),
    "optimizer": ("optim=adamw_8bit", "optim=adamw", "peak_mib"),
    "grouping": ("dataset.group_by_length=true", "dataset.group_by_length=false", "tokens_per_s"),
}
TITLES = {
    "compile": ("torch.compile / eager", "tokens/s"),
    "optimizer": ("adamw_8bit / adamw (method=full)", "peak RSS"),
    "grouping": ("grouped / ungrouped lengths (debian_policy, 4 x 512)", "real tokens/s"),
}


def cases() -> dict[str, Case]:
    return QUICK if quick_mode() else FULL


def estimate_s() -> float:
    c = cases()
    grouping = c["grouping"]
    # the ungrouped side pads to each batch's longest row: ~1.6x the grouped side's step time
    ungrouped_extra = grouping.steps * grouping.s_per_step * 0.6
    return sum(case.estimate_s() for case in c.values()) + grouping.pairs * ungrouped_extra


def case_args(name: str, c: Case) -> list[str]:
    """The measured job of a case, before its switch."""
    if name == "grouping":
        return corpus(c, packing=False)
    return overrides(c)


def switch_row(result: dict[str, Any], name: str, c: Case, threads: int) -> None:
    """Interleaved pairs of the case with its option on and off; the ratio on / off."""
    on, off, key = SWITCHES[name]
    if not option_available(on):
        unavailable(result, on)
        return
    work = work_dir("options")
    args = case_args(name, c)

    def side(flag: str, tag: str) -> Any:
        return lambda i: hydratune_side([*args, flag], f"{name}-{tag}-{i}", work, c.warmup,
                                        threads)  # fmt: skip

    with_option, without = run_pairs(c.pairs, side(on, "on"), side(off, "off"))
    result["runs"] |= {f"{name}: {on}": with_option, f"{name}: {off}": without}
    a, b = ([float(r[key]) for r in runs] for runs in (with_option, without))
    title, metric = TITLES[name]
    add(result, compare(title, metric, a, b, at_most=key == "peak_mib"))


def run(threads: int = 1) -> dict[str, Any]:
    c = cases()
    settings = {name: asdict(case) for name, case in c.items()}
    result = new_result("options", "Per-step options on and off", settings, threads)
    for name, case in c.items():
        switch_row(result, name, case, threads)
    return finish(result, SPEED)


if __name__ == "__main__":
    row_main(__doc__, run, "torch threads per process")
