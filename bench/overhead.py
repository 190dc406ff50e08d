"""Framework overhead: a hand-written PyTorch + PEFT loop vs `train.py`, same everything else.

Both sides load the same base through the framework's model loader, train on the same
tokenized chatterbot rows in the same order (same seeded permutation), with the same batch,
sequence length, AdamW settings, learning rate, gradient clipping and number of steps, in a
fresh process each with the same torch thread count. Runs are interleaved (raw, hydratune,
hydratune, raw, ...) and the medians over repeats are reported.

    .venv/bin/python bench/overhead.py                           # tiny and SmolLM2, lora and full
    .venv/bin/python bench/overhead.py --models tiny --methods lora --steps 4 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    PY,
    ROOT,
    Setting,
    Stamp,
    cheap_validation,
    first_loss,
    machine,
    median,
    publish,
    quick_mode,
    read_step_csv,
    require_ok,
    run_child,
    steady,
    thread_env,
    train_py,
    write_json,
)

SETTINGS = {
    "tiny": Setting(steps=20, warmup=4, batch=2, max_length=64),
    "smollm2_135m": Setting(steps=12, warmup=2, batch=2, max_length=64),
}
QUICK = Setting(steps=4, warmup=1, batch=4, max_length=64)
LR = {"lora": 2e-4, "full": 2e-5}
SEED = 42


def overrides(model: str, method: str, s: Setting) -> list[str]:
    """train.py overrides of one case (the raw loop composes the same config)."""
    return [
        f"model={model}",
        f"method={method}",
        "hardware=cpu",
        "dataset=chatterbot",
        f"dataset.max_length={s.max_length}",
        f"dataset.batch_size={s.batch}",
        f"dataset.limit={s.steps * s.batch + 16}",  # one epoch covers every step
        "dataset.val_max_rows=1",  # validation before/after: one row (outside the timing)
        "dataset.eval_batch_size=1",
        "optim=adamw",
        f"optim.lr={LR[method]}",
        "optim.scheduler=constant",
        "optim.warmup_steps=0",
        "trainer.gradient_clip_val=1.0",
        f"trainer.max_steps={s.steps}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        f"run.seed={SEED}",
        "run.save_checkpoints=false",
        "run.resume=never",
        "run.step_times=true",
        *cheap_validation(),
    ]


# ----------------------------------------------------------------------------- the raw loop
def raw_loop(case: list[str], out: Path) -> None:
    """The hand-written loop: framework loaders for identical inputs, then plain torch + PEFT."""
    started = time.time()
    from harness import compose, framework_base, framework_data, lora_settings, peak_rss_self_mib

    cfg = compose(case)
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch.utils.data import DataLoader

    from framework.data.encoders import EncodeStats

    ds, opt_cfg = cfg.dataset, cfg.optim
    tokenizer, data = framework_data(cfg)
    encoder = data.encoder  # the task's encoder as train.py builds it
    examples = encoder.encode(data.train_rows, EncodeStats())
    torch.manual_seed(SEED)
    model = framework_base(cfg, tokenizer)  # the framework's loader: the identical base object
    if str(cfg.method.name) == "lora":
        from peft import LoraConfig, get_peft_model

        model.requires_grad_(False)
        model = get_peft_model(model, LoraConfig(**lora_settings(cfg)))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=float(opt_cfg.lr),
        betas=(float(opt_cfg.betas[0]), float(opt_cfg.betas[1])),
        eps=float(opt_cfg.eps),
        weight_decay=float(opt_cfg.weight_decay),
    )
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(SEED)).tolist()
    loader = DataLoader(
        [examples[i] for i in order], batch_size=int(ds.batch_size), collate_fn=encoder.collate
    )
    steps, clip = int(cfg.trainer.max_steps), float(cfg.trainer.gradient_clip_val)
    if len(loader) < steps:
        raise SystemExit(f"{len(examples)} examples: too few for {steps} steps (raise the limit)")
    stamps: list[tuple[int, float, int, float]] = []
    loss_at_first_step = float("nan")
    for step, batch in enumerate(loader):
        if step == steps:
            break
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)),
            batch["labels"][:, 1:].reshape(-1),
            ignore_index=-100,
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        now, cpu = time.time(), time.process_time()
        stamps.append((step + 1, now, int(batch["attention_mask"].sum()), cpu))
        if step == 0:
            loss_at_first_step = float(loss.detach())
    write_json(
        out,
        {
            "stamps": stamps,
            "peak_train_mib": peak_rss_self_mib(),
            "first_loss": loss_at_first_step,
            "started": started,
            "lightning_imported": "pytorch_lightning" in sys.modules,
        },
    )


# ------------------------------------------------------------------------------ the bench
@dataclass
class Run:
    """One measured run of one side."""

    model: str
    method: str
    side: str  # raw | hydratune
    repeat: int
    seconds_per_step: float
    tokens_per_second: float
    cpu_seconds_per_step: float  # process CPU time: what other load on the machine inflates least
    peak_train_mib: float  # peak RSS up to the end of training
    peak_process_mib: float  # the whole process (hydratune: + saving and the reload check)
    wall_s: float
    first_loss: float | None


def run_side(
    side: str, model: str, method: str, s: Setting, rep: int, work: Path, threads: int
) -> Run:
    case = overrides(model, method, s)
    tag = f"{model}-{method}-{side}-{rep}"
    log = work / f"{tag}.log"
    env = thread_env(threads)
    if side == "raw":
        result_file = work / f"{tag}.json"
        cmd = [PY, str(Path(__file__).resolve()), "--raw-worker", result_file.as_posix()]
        child = run_child([*cmd, "--", *case], log, env)
        require_ok(child, log, tag)
        data = json.loads(result_file.read_text())
        stamps: list[Stamp] = [tuple(x) for x in data["stamps"]]  # type: ignore[misc]
        peak_train, loss = float(data["peak_train_mib"]), data["first_loss"]
    else:
        run_dir = work / tag
        shutil.rmtree(run_dir, ignore_errors=True)
        child = run_child(train_py([*case, f"hydra.run.dir={run_dir}"]), log, env)
        require_ok(child, log, tag)
        stamps = read_step_csv(run_dir / "step_times.csv")
        metrics = json.loads((run_dir / "metrics.json").read_text())
        peak_train = float(metrics["peak_memory_mib"])
        loss = first_loss(run_dir / "logs" / "metrics.csv")
    per_step, tok_s, cpu = steady(stamps, s.warmup)
    return Run(
        model,
        method,
        side,
        rep,
        per_step,
        tok_s,
        cpu,
        peak_train,
        child.max_rss_mib,
        child.wall_s,
        loss,
    )


def summarize(runs: list[Run], model: str, method: str, s: Setting) -> dict[str, Any]:
    """Medians over repeats of each side and the hydratune/raw ratios."""

    def pick(side: str, key: str) -> float:
        return median(
            [
                getattr(r, key)
                for r in runs
                if r.side == side and r.model == model and r.method == method
            ]
        )

    raw_s, hyd_s = pick("raw", "seconds_per_step"), pick("hydratune", "seconds_per_step")
    raw_c = pick("raw", "cpu_seconds_per_step")
    hyd_c = pick("hydratune", "cpu_seconds_per_step")
    raw_m, hyd_m = pick("raw", "peak_train_mib"), pick("hydratune", "peak_train_mib")
    losses = {r.side: r.first_loss for r in runs if r.model == model and r.method == method}
    return {
        "model": model,
        "method": method,
        "steps": s.steps,
        "warmup": s.warmup,
        "batch": s.batch,
        "max_length": s.max_length,
        "repeats": len(
            [r for r in runs if r.side == "raw" and r.model == model and r.method == method]
        ),
        "raw_s_per_step": raw_s,
        "hydratune_s_per_step": hyd_s,
        "time_ratio": hyd_s / raw_s,
        "raw_cpu_s_per_step": raw_c,
        "hydratune_cpu_s_per_step": hyd_c,
        "cpu_ratio": hyd_c / raw_c,
        "raw_peak_mib": raw_m,
        "hydratune_peak_mib": hyd_m,
        "memory_ratio": hyd_m / raw_m,
        "hydratune_process_peak_mib": pick("hydratune", "peak_process_mib"),
        "first_loss_raw": losses.get("raw"),
        "first_loss_hydratune": losses.get("hydratune"),
    }


def markdown(result: dict[str, Any]) -> str:
    """The overhead table for docs/benchmarks.md."""
    lines = [
        "| model | method | steps (timed) | batch x len | raw s/step | hydratune s/step "
        "| **time ratio** | raw CPU s/step | hydratune CPU s/step | **CPU ratio** "
        "| raw peak RSS (MiB) | hydratune peak RSS (MiB) | **memory ratio** "
        "| step-1 loss raw / hydratune |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in result["summary"]:
        goal = "" if r["time_ratio"] <= 1.03 else " (goal 1.03 not met)"
        lines.append(
            f"| {r['model']} | {r['method']} | {r['steps']} ({r['steps'] - r['warmup']}) "
            f"| {r['batch']} x {r['max_length']} | {r['raw_s_per_step']:.4f} "
            f"| {r['hydratune_s_per_step']:.4f} | **{r['time_ratio']:.3f}**{goal} "
            f"| {r['raw_cpu_s_per_step']:.4f} | {r['hydratune_cpu_s_per_step']:.4f} "
            f"| **{r['cpu_ratio']:.3f}** "
            f"| {r['raw_peak_mib']:.0f} | {r['hydratune_peak_mib']:.0f} "
            f"| **{r['memory_ratio']:.3f}** | {r['first_loss_raw']:.5f} / "
            f"{r['first_loss_hydratune']:.5f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,smollm2_135m")
    parser.add_argument("--methods", default="lora,full")
    parser.add_argument("--steps", type=int, default=0, help="override every model's steps")
    parser.add_argument("--warmup", type=int, default=-1, help="override the warm-up steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench" / "overhead")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "bench" / "overhead.json")
    parser.add_argument("--raw-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("case", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.raw_worker:
        raw_loop(args.case, args.raw_worker)
        return
    quick = quick_mode()
    if quick:
        args.models, args.methods, args.repeats = "tiny", "lora", 1
    info = machine(args.threads)
    runs: list[Run] = []
    summary = []
    for model in args.models.split(","):
        s = QUICK if quick else SETTINGS[model]
        if args.steps:
            s = Setting(args.steps, s.warmup, s.batch, s.max_length)
        if args.warmup >= 0:
            s = Setting(s.steps, args.warmup, s.batch, s.max_length)
        for method in args.methods.split(","):
            for rep in range(args.repeats):
                # Alternate which side goes first (raw, hyd, hyd, raw, ...): drifting load
                # on a shared machine then weighs on both sides alike.
                sides = ("raw", "hydratune") if rep % 2 == 0 else ("hydratune", "raw")
                for side in sides:
                    run = run_side(side, model, method, s, rep, args.work, args.threads)
                    runs.append(run)
                    print(
                        f"{model} {method} {side} #{rep}: {run.seconds_per_step:.4f} s/step, "
                        f"peak {run.peak_train_mib:.0f} MiB",
                        flush=True,
                    )
            summary.append(summarize(runs, model, method, s))
    example = overrides(
        args.models.split(",")[0],
        args.methods.split(",")[0],
        QUICK if quick else SETTINGS[args.models.split(",")[0]],
    )
    result = {
        "command": " ".join(["python", "bench/overhead.py", *sys.argv[1:]]),
        "quick": quick,
        "train_py_example": " ".join(["python train.py", *example]),
        "machine": info,
        "runs": [asdict(r) for r in runs],
        "summary": summary,
    }
    publish(args.json, result, markdown)


if __name__ == "__main__":
    main()
