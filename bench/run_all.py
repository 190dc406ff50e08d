"""`make bench`: run the overhead, TRL and start-up benchmarks; rewrite docs/benchmarks.md.

The memory-estimate section of docs/benchmarks.md (between the MEMORY-ESTIMATE markers) is
kept verbatim. BENCH_QUICK=1 runs every benchmark in its quickest mode on the tiny model and
writes outputs/bench/benchmarks.md instead (docs/ untouched).

    make bench                                   # real measurements (30-45 min on 2 cores)
    BENCH_QUICK=1 make bench                     # a smoke run (about 2 min)
    .venv/bin/python bench/run_all.py --skip vs_trl --reuse   # rebuild the doc from saved JSON
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import ROOT, machine_line, quick_mode  # noqa: E402

BEGIN = "<!-- MEMORY-ESTIMATE:BEGIN (kept verbatim by bench/run_all.py) -->"
END = "<!-- MEMORY-ESTIMATE:END -->"
BENCHES = ("overhead", "vs_trl", "startup")


def memory_section(doc: Path) -> str:
    """The memory-estimate section: between the markers, else from its heading to the end."""
    text = doc.read_text() if doc.is_file() else ""
    if BEGIN in text and END in text:
        return text[text.index(BEGIN) : text.index(END) + len(END)]
    heading = "## Memory estimate vs measured"
    body = text[text.index(heading) :].rstrip() if heading in text else heading + "\n\n(none)"
    return f"{BEGIN}\n{body}\n{END}"


def service_section(doc: Path) -> str:
    """The service-latency section (bench/service_latency.py writes it), kept verbatim."""
    text = doc.read_text() if doc.is_file() else ""
    begin = "<!-- SERVICE-LATENCY:BEGIN (kept verbatim by bench/run_all.py) -->"
    end = "<!-- SERVICE-LATENCY:END -->"
    if begin in text and end in text:
        return text[text.index(begin) : text.index(end) + len(end)]
    return ""


def run(name: str, extra: list[str], out: Path) -> dict[str, Any]:
    json_path = out / f"{name}.json"
    cmd = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--json", str(json_path), *extra]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    return dict(json.loads(json_path.read_text()))


def goal_lines(results: dict[str, dict[str, Any]]) -> list[str]:
    """Plain statements of which goals were met."""
    lines = []
    if "overhead" in results:
        for r in results["overhead"]["summary"]:
            met = "met" if r["time_ratio"] <= 1.03 else "**not met**"
            lines.append(
                f"- Overhead, {r['model']} {r['method']}: hydratune/raw time ratio "
                f"{r['time_ratio']:.3f} (goal <= 1.03: {met}); CPU-time ratio "
                f"{r['cpu_ratio']:.3f}."
            )
    if "vs_trl" in results:
        for r in results["vs_trl"]["summary"]:
            met = "met" if r["speed_ratio"] >= 1.0 else "**not met**"
            packing = "on" if r["packing"] else "off"
            lines.append(
                f"- vs TRL, {r['model']} packing {packing}: hydratune/TRL tokens/s "
                f"{r['speed_ratio']:.3f} (goal >= 1: {met}); per CPU second "
                f"{r['cpu_speed_ratio']:.3f}."
            )
    if "startup" in results:
        dry = sorted(results["startup"]["dry_run_s"])[len(results["startup"]["dry_run_s"]) // 2]
        met = "met" if dry < 3.0 else "**not met**"
        lines.append(f"- Dry run: median {dry:.2f} s (goal < 3 s: {met}).")
    return lines


def document(results: dict[str, dict[str, Any]], memory: str, notes: str, made_by: str) -> str:
    first = next(iter(results.values()))
    for result in results.values():  # commands relative to the repository root
        for key in ("command", "train_py_example"):
            if key in result:
                result[key] = result[key].replace(str(ROOT) + "/", "")
    parts = [
        "# Benchmarks",
        "",
        f"Produced by `{made_by}` (bench/run_all.py): every table below is rewritten by it; the "
        "memory-estimate section at the end is kept as it was. Each side of a comparison runs "
        "in a fresh process with the same torch thread count; runs are interleaved (A B, B A, "
        "...) so load from other work on the shared machine weighs on both sides alike, and the "
        "medians over the repeats are shown. Ratios are hydratune / other. Wall-clock ratios "
        "are the goals; the CPU-time columns (process CPU seconds over the same steps) are "
        "shown beside them because on a loaded, shared machine they vary far less.",
        "",
        machine_line(first["machine"]),
        "",
        "## Goals",
        "",
        *goal_lines(results),
        "",
    ]
    if "overhead" in results:
        r = results["overhead"]
        parts += [
            "## Framework overhead: train.py vs a hand-written PyTorch + PEFT loop",
            "",
            "```bash",
            f"{r['command']}",
            f"# the hydratune side of each case, e.g.:\n{r['train_py_example']}",
            "```",
            "",
            "The raw loop (bench/overhead.py, `raw_loop`) loads the same base with the "
            "framework's model loader, tokenizes the same rows with the same encoder, and runs "
            "forward, token-mean cross-entropy, backward, `clip_grad_norm_(1.0)`, AdamW step "
            "and `zero_grad` over the same seeded batch order - nothing else. s/step is the "
            "steady-state wall time per optimizer step after the warm-up steps (consecutive "
            "end-of-step timestamps: the raw loop's own, hydratune's `run.step_times=true` "
            "file), so it includes everything paid between steps (data, logging, callbacks). "
            "Peak RSS is the process's peak resident memory up to the end of training "
            "(hydratune: metrics.json `peak_memory_mib`, which includes the validation pass "
            "before training). Step-1 losses equal on both sides show that the two compute the "
            "same thing.",
            "",
            r["markdown"],
            "",
            machine_line(r["machine"]),
            "",
        ]
        process = ", ".join(
            f"{s['model']} {s['method']} {s['hydratune_process_peak_mib']:.0f} MiB"
            for s in r["summary"]
        )
        parts += [
            "Whole-process peak RSS of the hydratune runs (including saving the adapter and "
            f"reloading it onto a second base for the reload check after training): {process}.",
            "",
        ]
    if "vs_trl" in results:
        r = results["vs_trl"]
        parts += [
            "## Throughput vs TRL's SFTTrainer (LoRA)",
            "",
            "```bash",
            f"{r['command']}",
            f"# the hydratune side (packing on), e.g.:\n{r['train_py_example']}",
            "```",
            "",
            "TRL "
            + r["machine"]["versions"]["trl"]
            + " `SFTTrainer` with a `peft.LoraConfig` equal to `method=lora` (r 8, alpha 16, "
            "dropout 0, the same seven projections), on the same chatterbot train rows as "
            "conversational prompt/completion records (loss on the answer, like hydratune), "
            "with the same tokenizer and chat template, the base loaded by the framework's "
            "loader, max length, batch size, AdamW (`optim=adamw_torch`), lr 2e-4 constant, "
            "grad-norm clip 1.0, fp32 on the CPU (`use_cpu`, bf16 off), no gradient "
            "checkpointing, no eval, no saving, logging every step, same steps. Packing: TRL's "
            "default BFD packing (padding-free, position ids) vs hydratune's "
            "`dataset.packing=true` (position ids, no cross-attention). tok/s counts "
            "non-padding tokens over the timed steps (TRL: its own `num_tokens` count; "
            "hydratune: the batch attention masks); peak RSS up to the end of training.",
            "",
            r["markdown"],
            "",
            machine_line(r["machine"]),
            "",
        ]
    if "startup" in results:
        r = results["startup"]
        parts += [
            "## Start-up",
            "",
            "```bash",
            r["command"],
            "```",
            "",
            r["markdown"],
            "",
            machine_line(r["machine"]),
            "",
        ]
    if notes:
        parts += ["## Notes", "", notes.strip(), ""]
    parts += [memory, ""]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", default="", help="comma-separated: overhead,vs_trl,startup")
    parser.add_argument("--reuse", action="store_true", help="use saved JSON, run nothing")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--notes", type=Path, default=ROOT / "bench" / "notes.md")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--made-by", default="", help="the command to credit in the doc")
    args = parser.parse_args()
    made_by = args.made_by or (
        f'make bench ARGS="--repeats {args.repeats}"' if args.repeats != 3 else "make bench"
    )
    quick = quick_mode()
    skip = set(filter(None, args.skip.split(",")))
    extra = {
        "overhead": ["--repeats", str(args.repeats)],
        "vs_trl": ["--repeats", str(args.repeats)],
        "startup": [],
    }
    results: dict[str, dict[str, Any]] = {}
    for name in BENCHES:
        if name in skip:
            continue
        path = args.out / f"{name}.json"
        if args.reuse and path.is_file():
            results[name] = json.loads(path.read_text())
        else:
            results[name] = run(name, [] if quick else extra[name], args.out)
    if not results:
        raise SystemExit("nothing to report")
    notes = args.notes.read_text() if args.notes.is_file() else ""
    text = document(results, memory_section(args.doc), notes, made_by)
    text = text.rstrip() + "\n\n" + service_section(args.doc) + "\n"
    target = args.out / "benchmarks.md" if quick else args.doc
    target.write_text(text)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
