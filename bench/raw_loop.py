"""The hand-written training loop the framework is compared with, and the loss both it and the
matched TRL side compute.

The loss is the one the framework's step computes: the decoder's hidden states, the LM head
applied only to positions whose (shifted) label is not -100, token-mean cross-entropy. The loop
loads the same base with the framework's loader, encodes the same rows with the framework's
encoder, and runs forward, loss, backward, `clip_grad_norm_`, AdamW step and `zero_grad` over
the same seeded batch order - nothing else. Run as a worker by bench/overhead.py:

    .venv/bin/python bench/raw_loop.py --worker OUT.json -- model=tiny method=lora ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

SEED = 42


def labelled_loss(model: Any, batch: dict[str, Any]) -> Any:
    """Token-mean cross-entropy with the LM head run only on labelled positions."""
    import torch.nn.functional as F  # noqa: N812

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch.get("attention_mask")}
    if "position_ids" in batch:
        inputs["position_ids"] = batch["position_ids"]
    hidden = base.get_decoder()(**inputs, use_cache=False).last_hidden_state
    if "shift_labels" in batch:
        targets, states = batch["shift_labels"], hidden
    else:
        targets, states = batch["labels"][:, 1:], hidden[:, :-1]
    keep = targets != -100
    logits = base.get_output_embeddings()(states[keep])
    return F.cross_entropy(logits.float(), targets[keep])


def seeded_order(count: int) -> list[int]:
    """The batch order of the framework's training loader (one seeded permutation)."""
    import torch

    return torch.randperm(count, generator=torch.Generator().manual_seed(SEED)).tolist()


def build(case: list[str]) -> tuple[Any, Any, list[Any], Any]:
    """The run's config, its model (LoRA applied when method=lora), examples and encoder."""
    import torch
    from builders import framework_base, framework_data, lora_settings
    from harness import compose

    from framework.data.encoders import EncodeStats

    cfg = compose(case)
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
    return cfg, model, examples, encoder


def train(cfg: Any, model: Any, examples: list[Any], encoder: Any) -> tuple[list, float]:
    """The loop: (per-step stamps, the first step's loss)."""
    import torch
    from torch.utils.data import DataLoader

    opt = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        params,
        lr=float(opt.lr),
        betas=(float(opt.betas[0]), float(opt.betas[1])),
        eps=float(opt.eps),
        weight_decay=float(opt.weight_decay),
    )
    ordered = [examples[i] for i in seeded_order(len(examples))]
    loader = DataLoader(ordered, batch_size=int(cfg.dataset.batch_size), collate_fn=encoder.collate)
    steps, clip = int(cfg.trainer.max_steps), float(cfg.trainer.gradient_clip_val)
    if len(loader) < steps:
        raise SystemExit(f"{len(examples)} examples: too few for {steps} steps (raise the limit)")
    stamps: list[tuple[int, float, int, float]] = []
    first = float("nan")
    for step, batch in zip(range(steps), loader, strict=False):
        loss = labelled_loss(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stamps.append(
            (step + 1, time.time(), int(batch["attention_mask"].sum()), time.process_time())
        )
        if step == 0:
            first = float(loss.detach())
    return stamps, first


def worker(case: list[str], out: Path) -> None:
    from harness import peak_rss_self_mib, write_json

    started = time.time()
    cfg, model, examples, encoder = build(case)
    stamps, first = train(cfg, model, examples, encoder)
    result = {"stamps": stamps, "peak_train_mib": peak_rss_self_mib(), "first_loss": first}
    write_json(out, {**result, "started": started})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, required=True, help="where to write the result")
    parser.add_argument("case", nargs="*", help="train.py overrides")
    args = parser.parse_args()
    worker(args.case, args.worker)


if __name__ == "__main__":
    main()
