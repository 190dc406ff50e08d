"""docs/benchmarks.md from the rows' result files: header (command, date, commit, machine),
the goals with their verdicts and intervals, one section per row, the kept sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import WINDOW_S, machine_line
from stats import Comparison

KEPT = (  # sections other scripts write: kept verbatim between their markers
    (
        "<!-- MEMORY-ESTIMATE:BEGIN (kept verbatim by bench/run_all.py) -->",
        "<!-- MEMORY-ESTIMATE:END -->",
    ),
    (
        "<!-- SERVICE-LATENCY:BEGIN (kept verbatim by bench/run_all.py) -->",
        "<!-- SERVICE-LATENCY:END -->",
    ),
)
PROTOCOL = (
    "Protocol (bench/stats.py): each side of a comparison runs in a fresh process with the same "
    "torch thread count (1); the two sides of a comparison run in interleaved pairs (A B, then "
    "B A, alternating), and the ratio A/B is taken **per pair**, so load from other work on the "
    "shared machine weighs on both runs of a pair alike. The ratio shown is the **geometric mean "
    "of the per-pair ratios**, with a percentile-bootstrap 95% interval over pairs (10,000 "
    "resamples). A goal is **met** when the whole interval is on its side, **not met** when the "
    "whole interval is on the other side, and **inconclusive** otherwise (always with one pair). "
    "The raw-vs-raw control (the same program against itself) is the noise floor: a difference "
    "smaller than its spread is not resolved. Steady-state numbers exclude the warm-up steps; "
    "in full mode each speed run's timed window lasts at least ~60 s (the runs tables' "
    "`timed s`); the "
    "timed window runs from the end of the last warm-up step to the end of the last step, so "
    "everything paid between steps (data, logging, callbacks) is in it. tokens/s counts real "
    "tokens (attention mask), never padding. Each row's result file (bench/results/ROW.json) "
    "holds the commit, the machine (cores, load average, versions), every setting and every run."
)
ROW_TEXT = {
    "overhead": (
        "(a) Framework overhead: train.py vs a matched raw loop",
        "bench/raw_loop.py: the same base (the framework's loader), the same encoded rows in the "
        "same seeded order, the same loss (LM head on labelled positions only, token mean), AdamW, "
        "clipping 1.0, constant lr - nothing else. Step-1 losses equal on both sides show they "
        "compute the same thing.",
    ),
    "vs_trl": (
        "(b, d) hydratune vs TRL's SFTTrainer (LoRA, chatterbot)",
        "`TRL defaults`: SFTConfig defaults (fused chunked loss with entropy and token accuracy, "
        "gradient checkpointing on, its own shuffling) with only steps, batch, max length, lr and "
        "CPU fp32 set. `TRL matched`: our batch order, our loss (bench/raw_loop.py "
        "`labelled_loss`), the same packing, checkpointing off on both. Memory: batch 8 x max "
        "length 512 on chatterbot (rows are short: batches pad to their longest row on both "
        "sides), checkpointing off and on (`trainer.gradient_checkpointing`), peak RSS to the end "
        "of training.",
    ),
    "throughput": (
        "(c, e, g) Packing, sequence length, CPU ranks",
        "(c) debian_policy paragraphs (mixed lengths) at max length 512, `dataset.packing=true` vs "
        "false, real tokens/s. (e) packed debian_policy, batch 1, max length 128..2048. (g) "
        "`hardware=cpu_ddp` (2 processes) vs `hardware=cpu`, rows/s of the global batch.",
    ),
    "options": (
        "(h) Per-step options on and off: torch.compile, 8-bit AdamW, length-grouped batches",
        "(h1) `trainer.compile=true` (each transformer block compiled; compilation in the warm-up "
        "steps) on the overhead job. (h2) `optim=adamw_8bit` vs `optim=adamw` with "
        "`method=full` (optimizer state for every weight), peak RSS. (h3) "
        "`dataset.group_by_length=true` vs false on unpacked debian_policy paragraphs, batch 4 x "
        "max length 512, real tokens/s.",
    ),
    "startup": ("(f) The default job end to end, cold and warm", ""),
}


def kept_sections(doc: Path) -> list[str]:
    text = doc.read_text() if doc.is_file() else ""
    return [
        text[text.index(b) : text.index(e) + len(e)] for b, e in KEPT if b in text and e in text
    ]


def goal_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Every goal of the issue with its verdict and interval."""
    lines = []
    for row, result in results.items():
        for raw in result["comparisons"]:
            c = Comparison(**raw)
            if c.goal is not None:
                lines.append(f"- {row}: {c.name}, {c.metric}: {c.interval()}, goal "
                             f"{c.goal_text()}")  # fmt: skip
        for kind, v in result.get("verdicts", {}).items():
            firsts = [r["first_step_s"] for r in result["runs"]["default job"]
                      if r["run"].startswith(kind)]  # fmt: skip
            seconds = ", ".join(f"{s:.1f}" for s in firsts)
            lines.append(f"- startup: time to first step, {kind}: {seconds} s, goal **{v}**")
        for override in result.get("unavailable", []):
            lines.append(f"- {row}: `{override}`: option not available in this tree")
    return lines


PEAK_ONLY = ("8x512", "optimizer:")  # memory runs (vs_trl, options): a peak needs no window


def short_windows(results: dict[str, dict[str, Any]]) -> list[str]:
    """Full-mode speed runs whose timed window fell short of WINDOW_S by over 10% (the row's
    expected step time was too slow for this machine): said, not hidden."""
    lines = []
    for row, result in results.items():
        if result.get("quick"):
            continue
        for side, runs in result["runs"].items():
            if any(tag in side for tag in PEAK_ONLY):
                continue
            timed = [r for r in runs if isinstance(r, dict) and "timed_s" in r]  # speed runs
            short = [r for r in timed if float(r["timed_s"]) < 0.9 * WINDOW_S]
            if short:
                seconds = ", ".join(f"{float(r['timed_s']):.0f}" for r in short)
                lines.append(f"- {row}: {side}: timed windows of {seconds} s (< {WINDOW_S:.0f} s)")
    return lines


def section(row: str, result: dict[str, Any]) -> list[str]:
    title, text = ROW_TEXT[row]
    settings = result["settings"]
    example = settings.get("overrides")
    parts = [f"## {title}", "", f"`{result['command']}`", ""]
    if text:
        parts += [text, ""]
    if example:
        parts += ["```bash", "python train.py " + " ".join(example), "```", ""]
    parts += [result["markdown"], "", machine_line(result["machine"]), ""]
    return parts


def document(results: dict[str, dict[str, Any]], doc: Path, made_by: str, notes: str) -> str:
    first = next(iter(results.values()))
    info = first["machine"]
    parts = [
        "# Benchmarks",
        "",
        f"Produced by `{made_by}` (bench/run_all.py) on {info['date']} at commit "
        f"{info['commit'][:12]}; `make bench` rewrites this file whole (the sections between "
        "markers at the end are written by other scripts and kept).",
        "",
        PROTOCOL,
        "",
        machine_line(info),
        "",
        "## Goals",
        "",
        *goal_lines(results),
        "",
    ]
    short = short_windows(results)
    if short:
        parts += ["Runs whose timed window was shorter than the protocol's:", "", *short, ""]
    for row, result in results.items():
        parts += section(row, result)
    if notes.strip():
        parts += ["## Notes", "", notes.strip(), ""]
    parts += [s + "\n" for s in kept_sections(doc)]
    return "\n".join(parts).rstrip() + "\n"
