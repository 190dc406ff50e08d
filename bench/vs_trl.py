"""Throughput vs TRL: SFTTrainer + PEFT LoRA and `train.py` on the same chat rows and model.

Both sides train LoRA (same r, alpha, dropout, target modules) on the same chatterbot train
rows, rendered with the same tokenizer's chat template, loss on the answers only, with the same
max length, batch size, AdamW settings, learning rate (constant), gradient clipping, number of
steps, fp32 on the CPU, no evaluation and no checkpoints; packing off and on. Each side runs in
a fresh process with the same torch thread count; runs are interleaved and medians reported.
Non-padding tokens per second is counted over the steps after the warm-up.

    .venv/bin/python bench/vs_trl.py                          # SmolLM2-135M, packing off and on
    .venv/bin/python bench/vs_trl.py --model tiny --steps 4 --repeats 1 --packing off
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
    cheap_validation,
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
    "tiny": Setting(steps=30, warmup=5, batch=8, max_length=64),
    "smollm2_135m": Setting(steps=6, warmup=2, batch=2, max_length=64),
}
QUICK = Setting(steps=4, warmup=1, batch=4, max_length=64)
LR = 2e-4
SEED = 42


def overrides(model: str, packing: bool, s: Setting) -> list[str]:
    """train.py overrides of one case (the TRL side reads the same config)."""
    return [
        f"model={model}",
        "method=lora",
        "hardware=cpu",
        "dataset=chatterbot",
        f"dataset.packing={str(packing).lower()}",
        f"dataset.max_length={s.max_length}",
        f"dataset.batch_size={s.batch}",
        f"dataset.limit={3 * s.steps * s.batch + 16}",  # one epoch covers every step, packed too
        "dataset.val_max_rows=1",  # validation before/after: one row (outside the timing)
        "dataset.eval_batch_size=1",
        "optim=adamw",
        f"optim.lr={LR}",
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


# ------------------------------------------------------------------------------ TRL side
def trl_records(rows: list[Any]) -> list[dict[str, Any]]:
    """Conversational prompt/completion records: TRL then takes the loss on the completion."""
    records = []
    for row in rows:
        messages = [{"role": role, "content": text} for role, text in row.messages]
        records.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return records


def trl_worker(case: list[str], work: Path, out: Path) -> None:
    """Train with TRL's SFTTrainer on the rows and base the framework would use."""
    from harness import compose, framework_base, framework_data, lora_settings, peak_rss_self_mib

    cfg = compose(case)
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    ds, opt = cfg.dataset, cfg.optim
    tokenizer, data = framework_data(cfg)
    train_rows = data.train_rows
    torch.manual_seed(SEED)
    model = framework_base(cfg, tokenizer)
    args = SFTConfig(
        output_dir=str(work),
        max_steps=int(cfg.trainer.max_steps),
        per_device_train_batch_size=int(ds.batch_size),
        gradient_accumulation_steps=1,
        learning_rate=float(opt.lr),
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=float(opt.weight_decay),
        adam_beta1=float(opt.betas[0]),
        adam_beta2=float(opt.betas[1]),
        adam_epsilon=float(opt.eps),
        optim="adamw_torch",
        max_grad_norm=float(cfg.trainer.gradient_clip_val),
        max_length=int(ds.max_length),
        packing=bool(ds.packing),
        logging_steps=1,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        dataloader_num_workers=0,
        seed=SEED,
    )

    class Stamps(TrainerCallback):  # type: ignore[misc]
        """Wall time and cumulative non-padding tokens at the end of every optimizer step."""

        def __init__(self) -> None:
            self.rows: list[tuple[int, float, int, float]] = []
            self.trainer: Any = None

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            now, cpu = time.time(), time.process_time()
            self.rows.append((state.global_step, now, self.trainer._total_train_tokens, cpu))

    stamps = Stamps()
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(trl_records(train_rows)),
        processing_class=tokenizer,
        peft_config=LoraConfig(**lora_settings(cfg)),
        callbacks=[stamps],
    )
    stamps.trainer = trainer
    trainer.train()
    per_step = []
    previous = 0
    for step, stamp, total, cpu in stamps.rows:
        per_step.append((step, stamp, total - previous, cpu))
        previous = total
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    write_json(
        out,
        {"stamps": per_step, "peak_train_mib": peak_rss_self_mib(), "trainable": trainable},
    )


# ------------------------------------------------------------------------------ the bench
@dataclass
class Run:
    """One measured run of one side."""

    model: str
    packing: bool
    side: str  # trl | hydratune
    repeat: int
    tokens_per_second: float
    seconds_per_step: float
    tokens_per_step: float
    cpu_tokens_per_second: float  # tokens per CPU second: what other load inflates least
    peak_train_mib: float
    wall_s: float


def run_side(
    side: str, model: str, packing: bool, s: Setting, rep: int, work: Path, threads: int
) -> Run:
    case = overrides(model, packing, s)
    tag = f"{model}-{'packed' if packing else 'padded'}-{side}-{rep}"
    log = work / f"{tag}.log"
    run_dir = work / tag
    shutil.rmtree(run_dir, ignore_errors=True)
    env = thread_env(threads)
    if side == "trl":
        result = work / f"{tag}.json"
        me = str(Path(__file__).resolve())
        child = run_child([PY, me, "--trl-worker", str(result), "--", *case], log, env)
        require_ok(child, log, tag)
        data = json.loads(result.read_text())
        rows = [tuple(x) for x in data["stamps"]]
        peak = float(data["peak_train_mib"])
    else:
        child = run_child(train_py([*case, f"hydra.run.dir={run_dir}"]), log, env)
        require_ok(child, log, tag)
        rows = read_step_csv(run_dir / "step_times.csv")  # type: ignore[assignment]
        peak = float(json.loads((run_dir / "metrics.json").read_text())["peak_memory_mib"])
    per_step, tok_s, cpu = steady(rows, s.warmup)  # type: ignore[arg-type]
    timed = rows[s.warmup + 1 :]
    tokens = sum(r[2] for r in timed) / max(1, len(timed))
    cpu_tok_s = tokens / cpu
    return Run(model, packing, side, rep, tok_s, per_step, tokens, cpu_tok_s, peak, child.wall_s)


def summarize(runs: list[Run], model: str, packing: bool, s: Setting) -> dict[str, Any]:
    def pick(side: str, key: str) -> float:
        chosen = [r for r in runs if r.side == side and r.model == model and r.packing == packing]
        return median([getattr(r, key) for r in chosen])

    trl_t, hyd_t = pick("trl", "tokens_per_second"), pick("hydratune", "tokens_per_second")
    trl_m, hyd_m = pick("trl", "peak_train_mib"), pick("hydratune", "peak_train_mib")
    trl_c = pick("trl", "cpu_tokens_per_second")
    hyd_c = pick("hydratune", "cpu_tokens_per_second")
    return {
        "model": model,
        "packing": packing,
        "steps": s.steps,
        "warmup": s.warmup,
        "batch": s.batch,
        "max_length": s.max_length,
        "repeats": len(
            [r for r in runs if r.side == "trl" and r.model == model and r.packing == packing]
        ),
        "trl_tokens_per_s": trl_t,
        "hydratune_tokens_per_s": hyd_t,
        "speed_ratio": hyd_t / trl_t,
        "trl_tokens_per_cpu_s": trl_c,
        "hydratune_tokens_per_cpu_s": hyd_c,
        "cpu_speed_ratio": hyd_c / trl_c,
        "trl_tokens_per_step": pick("trl", "tokens_per_step"),
        "hydratune_tokens_per_step": pick("hydratune", "tokens_per_step"),
        "trl_peak_mib": trl_m,
        "hydratune_peak_mib": hyd_m,
        "memory_ratio": hyd_m / trl_m,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "| model | packing | steps (timed) | batch x max len | TRL tok/s | hydratune tok/s "
        "| **speed ratio** | TRL tok/CPU-s | hydratune tok/CPU-s | **CPU speed ratio** "
        "| tokens/step TRL / hydratune | TRL peak RSS (MiB) "
        "| hydratune peak RSS (MiB) | **memory ratio** |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in result["summary"]:
        goal = "" if r["speed_ratio"] >= 1.0 else " (goal >= 1 not met)"
        lines.append(
            f"| {r['model']} | {'on' if r['packing'] else 'off'} "
            f"| {r['steps']} ({r['steps'] - r['warmup']}) | {r['batch']} x {r['max_length']} "
            f"| {r['trl_tokens_per_s']:.0f} | {r['hydratune_tokens_per_s']:.0f} "
            f"| **{r['speed_ratio']:.3f}**{goal} | {r['trl_tokens_per_cpu_s']:.0f} "
            f"| {r['hydratune_tokens_per_cpu_s']:.0f} | **{r['cpu_speed_ratio']:.3f}** "
            f"| {r['trl_tokens_per_step']:.0f} / "
            f"{r['hydratune_tokens_per_step']:.0f} | {r['trl_peak_mib']:.0f} "
            f"| {r['hydratune_peak_mib']:.0f} | **{r['memory_ratio']:.3f}** |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2_135m", help="smollm2_135m or tiny")
    parser.add_argument("--packing", default="off,on", help="off, on, or off,on")
    parser.add_argument("--steps", type=int, default=0, help="override the steps")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "bench" / "vs_trl")
    parser.add_argument("--json", type=Path, default=ROOT / "outputs" / "bench" / "vs_trl.json")
    parser.add_argument("--trl-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("case", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.trl_worker:
        trl_worker(args.case, args.trl_worker.with_suffix(""), args.trl_worker)
        return
    quick = quick_mode()
    if quick:
        args.model, args.packing, args.repeats = "tiny", "off", 1
    s = QUICK if quick else SETTINGS[args.model]
    if args.steps:
        s = Setting(args.steps, s.warmup, s.batch, s.max_length)
    info = machine(args.threads)
    runs: list[Run] = []
    summary = []
    for packing in [p == "on" for p in args.packing.split(",")]:
        for rep in range(args.repeats):
            sides = ("trl", "hydratune") if rep % 2 == 0 else ("hydratune", "trl")
            for side in sides:
                run = run_side(side, args.model, packing, s, rep, args.work, args.threads)
                runs.append(run)
                print(
                    f"{args.model} packing={packing} {side} #{rep}: "
                    f"{run.tokens_per_second:.0f} tok/s, peak {run.peak_train_mib:.0f} MiB",
                    flush=True,
                )
        summary.append(summarize(runs, args.model, packing, s))
    result = {
        "command": " ".join(["python", "bench/vs_trl.py", *sys.argv[1:]]),
        "quick": quick,
        "train_py_example": " ".join(["python train.py", *overrides(args.model, True, s)]),
        "machine": info,
        "runs": [asdict(r) for r in runs],
        "summary": summary,
    }
    publish(args.json, result, markdown)


if __name__ == "__main__":
    main()
