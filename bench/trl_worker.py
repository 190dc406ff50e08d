"""The TRL side of rows (b) and (d): SFTTrainer + PEFT LoRA on the rows and base the framework
would use, in one of two modes.

- `defaults`: TRL's own defaults (its fused, chunked loss with entropy and token accuracy, its
  gradient checkpointing (on), its shuffling, logging every 10 steps); only what makes it the
  same job is set: steps, batch, max length, learning rate, CPU fp32 (our side's precision), no
  saving or reporting.
- `matched`: settings matched to ours: our batch order (the framework's seeded permutation,
  read in order), our loss (bench/raw_loop.py `labelled_loss`: LM head on labelled positions,
  token mean), the same packing setting, gradient checkpointing as `trainer.gradient_checkpointing`.

    .venv/bin/python bench/trl_worker.py --mode matched --worker OUT.json -- <train.py overrides>
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raw_loop import SEED, labelled_loss, seeded_order  # noqa: E402


def records(rows: list[Any], matched: bool) -> list[dict[str, Any]]:
    """Conversational prompt/completion records (TRL takes the loss on the completion); in
    our order when matched."""
    order = seeded_order(len(rows)) if matched else range(len(rows))
    found = []
    for i in order:
        messages = [{"role": role, "content": text} for role, text in rows[i].messages]
        found.append({"prompt": messages[:-1], "completion": messages[-1:]})
    return found


def checkpointing(cfg: Any) -> bool:
    """trainer.gradient_checkpointing of the run (false in a tree without the option)."""
    return "gradient_checkpointing" in cfg.trainer and bool(cfg.trainer.gradient_checkpointing)


def sft_config(cfg: Any, work: Path, matched: bool) -> Any:
    from trl import SFTConfig

    same_job = {
        "output_dir": str(work),
        "max_steps": int(cfg.trainer.max_steps),
        "per_device_train_batch_size": int(cfg.dataset.batch_size),
        "learning_rate": float(cfg.optim.lr),
        "max_length": int(cfg.dataset.max_length),
        "use_cpu": True,
        "bf16": False,
        "save_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        "seed": SEED,
    }
    if not matched:
        return SFTConfig(**same_job)
    opt = cfg.optim
    return SFTConfig(
        **same_job,
        gradient_checkpointing=checkpointing(cfg),
        packing=bool(cfg.dataset.packing),
        lr_scheduler_type="constant",
        weight_decay=float(opt.weight_decay),
        adam_beta1=float(opt.betas[0]),
        adam_beta2=float(opt.betas[1]),
        adam_epsilon=float(opt.eps),
        optim="adamw_torch",
        max_grad_norm=float(cfg.trainer.gradient_clip_val),
        logging_steps=int(cfg.trainer.log_every_n_steps),
        dataloader_num_workers=0,
    )


def trainer_class(matched: bool) -> Any:
    """SFTTrainer stamping each step (wall, CPU, non-padding tokens); matched: our loss and
    order."""
    import torch
    from trl import SFTTrainer

    class Stamped(SFTTrainer):  # type: ignore[misc]
        stamps: list[tuple[int, float, int, float]] = []
        tokens = 0

        def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            mask = inputs.get("attention_mask")
            self.tokens = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            loss = super().training_step(model, inputs, *args, **kwargs)
            return loss

        def _get_train_sampler(self, *args: Any, **kwargs: Any) -> Any:
            if matched:  # records are already in our order
                return torch.utils.data.SequentialSampler(self.train_dataset)
            return super()._get_train_sampler(*args, **kwargs)

        def compute_loss(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
            if not matched:
                return super().compute_loss(model, inputs, *args, **kwargs)
            return labelled_loss(model, inputs)

    return Stamped


def worker(case: list[str], mode: str, out: Path) -> None:
    import torch
    from builders import framework_base, framework_data, lora_settings
    from datasets import Dataset
    from harness import compose, peak_rss_self_mib, write_json
    from peft import LoraConfig
    from transformers import TrainerCallback

    cfg = compose(case)
    tokenizer, data = framework_data(cfg)
    torch.manual_seed(SEED)
    model = framework_base(cfg, tokenizer)
    matched = mode == "matched"
    cls = trainer_class(matched)
    holder: dict[str, Any] = {}

    class Stamps(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            row = (state.global_step, time.time(), holder["t"].tokens, time.process_time())
            holder["t"].stamps.append(row)

    trainer = cls(
        model=model,
        args=sft_config(cfg, out.with_suffix(""), matched),
        train_dataset=Dataset.from_list(records(data.train_rows, matched)),
        processing_class=tokenizer,
        peft_config=LoraConfig(**lora_settings(cfg)),
        callbacks=[Stamps()],
    )
    holder["t"] = trainer
    trainer.train()
    write_json(out, {"stamps": trainer.stamps, "peak_train_mib": peak_rss_self_mib()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("defaults", "matched"), required=True)
    parser.add_argument("--worker", type=Path, required=True, help="where to write the result")
    parser.add_argument("case", nargs="*", help="train.py overrides")
    args = parser.parse_args()
    worker(args.case, args.mode, args.worker)


if __name__ == "__main__":
    main()
