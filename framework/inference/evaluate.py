"""Score a run on a split of its dataset with its task's objective: loss and task metrics."""

from __future__ import annotations

import logging
from typing import Any

import torch

from framework.inference.load import load_model, load_run_tokenizer
from framework.inference.run_dir import RunDir
from framework.training.artifacts import write_json_atomically

log = logging.getLogger(__name__)

SPLITS = ("val", "train_eval", "train")
# The metrics.json value each split reproduces (scored the same way during training).
TRAINING_VALUE = {"val": "val_loss_after", "train_eval": "train_loss_after"}


def split_rows(train_set: list[Any], val_set: list[Any], split: str) -> list[Any]:
    """The encoded examples of a split, as the training run's evaluation loaders saw them."""
    if split == "val":
        return val_set
    if split == "train_eval":
        return train_set[: len(val_set)]  # TaskDataModule.val_dataloader's train sample
    return train_set


def _to(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def score(
    model: torch.nn.Module,
    objective: Any,
    batches: list[dict[str, Any]],
    device: torch.device,
) -> dict[str, float]:
    """The objective's loss (per loss term, as in training) and its metrics over batches."""
    objective.reset()
    total = torch.zeros((), dtype=torch.float64)
    terms = 0
    for batch in batches:
        loss_sum, count = objective.eval_step(model, _to(batch, device), 0)
        total += loss_sum.double().cpu()
        terms += int(count)
    loss = float(total) / max(terms, 1)
    return {"loss": loss, **objective.compute(0, loss), "loss_terms": terms}


def evaluate_run(
    run: RunDir, split: str, limit: int | None, batch_size: int | None, device: torch.device
) -> dict[str, Any]:
    """Score the run on `split`, write <run_dir>/eval_<split>.json and return the numbers."""
    from framework.builders.data import build_datamodule
    from framework.tasks.objectives import build_objective

    cfg = run.cfg
    tokenizer = load_run_tokenizer(run)
    datamodule = build_datamodule(
        cfg.dataset, tokenizer=tokenizer, seed=int(cfg.run.seed), task=run.task
    )
    datamodule.setup()
    rows = split_rows(datamodule.train_set, datamodule.val_set, split)[:limit]
    size = int(batch_size or cfg.dataset.eval_batch_size)
    model = load_model(run, tokenizer, device, datamodule.labels)
    objective = build_objective(run.task, datamodule.labels)
    batches = [datamodule.collate(rows[i : i + size]) for i in range(0, len(rows), size)]
    log.info(
        "scoring %d %s examples of %s (batch %d, %s)", len(rows), split, run.path, size, device
    )
    result: dict[str, Any] = {
        "split": split,
        "examples": len(rows),
        "batch_size": size,
        "task": run.task,
        "method": run.method_name,
        **score(model, objective, batches, device),
    }
    reference = run.metrics().get(TRAINING_VALUE.get(split, ""))
    if reference is not None and limit is None:
        result["training_loss"] = reference
        result["difference_from_training"] = abs(result["loss"] - float(reference))
    write_json_atomically(run.path / f"eval_{split}.json", result)
    return result
