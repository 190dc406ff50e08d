"""Score a run on a split of its dataset: loss, perplexity and next-token accuracy on answers."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import torch

from framework.data.render import IGNORE_INDEX, Encoded
from framework.errors import UserError
from framework.inference.load import load_model, load_run_tokenizer
from framework.inference.run_dir import RunDir
from framework.training.artifacts import write_json_atomically
from framework.training.module import token_loss_sum

log = logging.getLogger(__name__)

SPLITS = ("val", "train_eval", "train")
# The metrics.json value each split reproduces (scored the same way during training).
TRAINING_VALUE = {"val": "val_loss_after", "train_eval": "train_loss_after"}
SUPPORTED_TASKS = ("causal_lm",)


def split_rows(train_set: list[Encoded], val_set: list[Encoded], split: str) -> list[Encoded]:
    """The encoded rows of a split, as the training run's evaluation loaders saw them."""
    if split == "val":
        return val_set
    if split == "train_eval":
        return train_set[: len(val_set)]  # ChatDataModule.val_dataloader's train sample
    return train_set


@torch.no_grad()
def score(
    model: torch.nn.Module,
    rows: list[Encoded],
    collate: Callable[[list[Encoded]], dict[str, torch.Tensor]],
    batch_size: int,
    device: torch.device,
) -> dict[str, float]:
    """Token-weighted loss over answer tokens, its perplexity and next-token accuracy."""
    loss_total = torch.zeros((), dtype=torch.float64)
    tokens = 0
    correct = 0
    for start in range(0, len(rows), batch_size):
        batch = {k: v.to(device) for k, v in collate(rows[start : start + batch_size]).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss_sum, count = token_loss_sum(logits, batch["labels"])
        labels = batch["labels"][:, 1:]
        hits = (logits[:, :-1, :].argmax(-1) == labels) & (labels != IGNORE_INDEX)
        loss_total += loss_sum.double().cpu()
        tokens += int(count)
        correct += int(hits.sum())
    loss = float(loss_total) / max(tokens, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "token_accuracy": correct / max(tokens, 1),
        "tokens": tokens,
    }


def evaluate_run(
    run: RunDir, split: str, limit: int | None, batch_size: int | None, device: torch.device
) -> dict[str, Any]:
    """Score the run on `split`, write <run_dir>/eval_<split>.json and return the numbers."""
    from framework.builders import build_datamodule

    cfg = run.cfg
    task = str(cfg.dataset.task)
    if task not in SUPPORTED_TASKS:
        raise UserError(
            f"dataset.task='{task}' of this run has no evaluator yet "
            f"(supported: {', '.join(SUPPORTED_TASKS)})"
        )
    tokenizer = load_run_tokenizer(run)
    datamodule = build_datamodule(cfg.dataset, tokenizer, int(cfg.run.seed))
    datamodule.setup()
    rows = split_rows(datamodule.train_set, datamodule.val_set, split)
    if limit is not None:
        rows = rows[:limit]
    if not rows:
        raise UserError(f"split='{split}' has no rows in this run's dataset")
    size = int(batch_size or cfg.dataset.eval_batch_size)
    model = load_model(run, tokenizer, device)
    log.info("scoring %d %s rows of %s (batch %d, %s)", len(rows), split, run.path, size, device)
    result: dict[str, Any] = {
        "split": split,
        "rows": len(rows),
        "batch_size": size,
        "task": task,
        "method": run.method_name,
        **score(model, rows, datamodule.collate, size, device),
    }
    reference = run.metrics().get(TRAINING_VALUE.get(split, ""))
    if reference is not None and limit is None:
        result["training_loss"] = reference
        result["difference_from_training"] = abs(result["loss"] - float(reference))
    write_json_atomically(run.path / f"eval_{split}.json", result)
    return result
