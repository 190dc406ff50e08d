"""Per-task loss and validation metrics, called by the LightningModule (flat, no config)."""

from __future__ import annotations

import math
from typing import Any

import torch

from framework.data.render import IGNORE_INDEX
from framework.tasks import metrics
from framework.tasks.lm_head import labelled_token_nll
from framework.tasks.preference import PreferenceSpec
from framework.tasks.registry import task_spec


def token_loss_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token cross-entropy over labelled positions, and their count."""
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    loss = torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="sum",
    )
    return loss, (shift_labels != IGNORE_INDEX).sum()


class Objective:
    """Causal LM: next-token loss on labelled tokens; perplexity on validation."""

    def __init__(self, splits: int = 2) -> None:
        self.splits = splits
        self.reset()

    @classmethod
    def for_labels(cls, labels: tuple[str, ...]) -> Objective:
        """The objective for a dataset's labels (class names or BIO tags; empty: none)."""
        return cls()

    def reset(self) -> None:
        """Forget accumulated validation predictions (each split)."""
        self.store: list[dict[str, list[Any]]] = [{} for _ in range(self.splits)]

    def inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of the model's forward for a batch (no KV cache: training and
        scoring forwards never decode)."""
        if "position_ids" in batch:
            # Packed: with no 2-D mask and no cache, transformers builds a block-diagonal
            # causal mask from the restarting position ids (no attention across examples).
            return {
                "input_ids": batch["input_ids"],
                "position_ids": batch["position_ids"],
                "use_cache": False,
            }
        return {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "use_cache": False,
        }

    def logits(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        logits: torch.Tensor = net(**self.inputs(batch)).logits
        return logits[:, -batch["input_ids"].size(1) :]  # prompt methods prepend virtual tokens

    def loss_sum(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """(summed loss, number of loss terms) of a batch: the LM head and the cross-entropy
        run on the labelled positions only (framework.tasks.lm_head)."""
        nll, _ = labelled_token_nll(net, self.inputs(batch), batch["labels"])
        return nll.sum(), (batch["labels"][:, 1:] != IGNORE_INDEX).sum()

    def eval_step(
        self, net: torch.nn.Module, batch: dict[str, Any], split: int
    ) -> tuple[torch.Tensor, Any]:
        """Loss of a validation batch; subclasses also keep predictions for their metrics."""
        return self.loss_sum(net, batch)

    def compute(self, split: int, loss: float) -> dict[str, float]:
        """Metrics of a split beyond its loss."""
        return {"perplexity": math.exp(min(loss, 700.0))}

    def report(self, split: int) -> dict[str, Any]:
        """metrics.json keys beyond the logged numbers (per-class scores, collapse): none."""
        return {}

    def _keep(self, split: int, **values: list[Any]) -> None:
        for key, items in values.items():
            self.store[split].setdefault(key, []).extend(items)


class SequenceClassification(Objective):
    """One label per sequence: cross-entropy; accuracy and macro-F1."""

    def __init__(self, num_labels: int, splits: int = 2, names: tuple[str, ...] = ()) -> None:
        super().__init__(splits)
        self.num_labels = num_labels
        self.names = names or tuple(str(i) for i in range(num_labels))

    @classmethod
    def for_labels(cls, labels: tuple[str, ...]) -> Objective:
        return cls(len(labels), names=labels)

    def classes(self, split: int) -> tuple[list[str], list[str]]:
        """(predicted, reference) class names of every scored item of a split."""
        store = self.store[split]
        predicted, gold = store.get("predicted", []), store.get("gold", [])
        return [self.names[i] for i in predicted], [self.names[i] for i in gold]

    def report(self, split: int) -> dict[str, Any]:
        """Per-class precision/recall/F1, and the collapse onto one class when it happened."""
        from framework.tasks.collapse import class_collapse, per_class_scores

        predicted, gold = self.classes(split)
        if not gold:
            return {}
        collapse = class_collapse(predicted, gold)
        return {"per_class": per_class_scores(predicted, gold), **(collapse or {})}

    def inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def logits(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        return net(**self.inputs(batch)).logits  # type: ignore[no-any-return]

    def loss_sum(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        return self._loss(self.logits(net, batch), batch)

    def _loss(self, logits: torch.Tensor, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        labels = batch["labels"]
        loss = torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum")
        return loss, torch.tensor(labels.numel(), device=labels.device)

    def eval_step(
        self, net: torch.nn.Module, batch: dict[str, Any], split: int
    ) -> tuple[torch.Tensor, Any]:
        logits = self.logits(net, batch)
        self._keep(
            split,
            predicted=logits.argmax(-1).tolist(),
            gold=batch["labels"].tolist(),
        )
        return self._loss(logits, batch)

    def compute(self, split: int, loss: float) -> dict[str, float]:
        predicted, gold = self.store[split].get("predicted", []), self.store[split].get("gold", [])
        return {
            "accuracy": metrics.accuracy(predicted, gold),
            "macro_f1": metrics.macro_f1(predicted, gold, self.num_labels),
        }


class TokenClassification(SequenceClassification):
    """One BIO tag per word (first sub-token): cross-entropy; entity-level F1 (seqeval)."""

    def __init__(self, tags: tuple[str, ...], splits: int = 2) -> None:
        super().__init__(len(tags), splits, names=tags)
        self.tags = tags

    def classes(self, split: int) -> tuple[list[str], list[str]]:
        """(predicted, reference) tags of every scored word of a split."""
        store = self.store[split]
        predicted, gold = store.get("predicted", []), store.get("gold", [])
        return [t for row in predicted for t in row], [t for row in gold for t in row]

    @classmethod
    def for_labels(cls, labels: tuple[str, ...]) -> Objective:
        return cls(labels)

    def _loss(self, logits: torch.Tensor, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        labels = batch["labels"]
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        return loss, (labels != IGNORE_INDEX).sum()

    def eval_step(
        self, net: torch.nn.Module, batch: dict[str, Any], split: int
    ) -> tuple[torch.Tensor, Any]:
        logits = self.logits(net, batch)
        predicted, gold = [], []
        for row_logits, row_labels in zip(logits.argmax(-1), batch["labels"], strict=True):
            keep = row_labels != IGNORE_INDEX
            predicted.append([self.tags[i] for i in row_logits[keep].tolist()])
            gold.append([self.tags[i] for i in row_labels[keep].tolist()])
        self._keep(split, predicted=predicted, gold=gold)
        return self._loss(logits, batch)

    def compute(self, split: int, loss: float) -> dict[str, float]:
        predicted, gold = self.store[split].get("predicted", []), self.store[split].get("gold", [])
        pairs = zip(predicted, gold, strict=True)
        flat = [(p, g) for ps, gs in pairs for p, g in zip(ps, gs, strict=True)]
        return {
            **metrics.entity_scores(predicted, gold),
            "tag_accuracy": sum(p == g for p, g in flat) / max(len(flat), 1),
        }


class ExtractiveQA(Objective):
    """Answer span in the context: start/end cross-entropy; exact match and F1."""

    def __init__(self, max_answer_tokens: int = 30, splits: int = 2) -> None:
        super().__init__(splits)
        self.max_answer_tokens = max_answer_tokens

    def inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        keys = ("input_ids", "attention_mask", "token_type_ids")
        return {k: batch[k] for k in keys if k in batch}

    def _outputs(self, net: torch.nn.Module, batch: dict[str, Any]) -> Any:
        return net(**self.inputs(batch))

    def _loss(self, out: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        ce = torch.nn.functional.cross_entropy
        start = ce(out.start_logits.float(), batch["start_positions"], reduction="sum")
        end = ce(out.end_logits.float(), batch["end_positions"], reduction="sum")
        count = batch["start_positions"].numel()
        return (start + end) / 2, torch.tensor(count, device=start.device)

    def loss_sum(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        return self._loss(self._outputs(net, batch), batch)

    def eval_step(
        self, net: torch.nn.Module, batch: dict[str, Any], split: int
    ) -> tuple[torch.Tensor, Any]:
        out = self._outputs(net, batch)
        answers = [
            self._best_span(s, e, offsets, context)
            for s, e, offsets, context in zip(
                out.start_logits, out.end_logits, batch["offsets"], batch["contexts"], strict=True
            )
        ]
        scores = [
            metrics.squad_scores(a, g) for a, g in zip(answers, batch["answers"], strict=True)
        ]
        self._keep(split, em=[s[0] for s in scores], f1=[s[1] for s in scores])
        return self._loss(out, batch)

    def _best_span(
        self,
        start_logits: torch.Tensor,
        end_logits: torch.Tensor,
        offsets: list[tuple[int, int] | None],
        context: str,
    ) -> str:
        """The highest-scoring context span of at most max_answer_tokens tokens."""
        inside = torch.tensor([o is not None for o in offsets], device=start_logits.device)
        n = len(offsets)
        scores = start_logits[:n, None] + end_logits[None, :n]
        allowed = inside[:, None] & inside[None, :]
        allowed &= torch.ones(n, n, dtype=torch.bool, device=allowed.device).triu()
        allowed &= ~torch.ones(n, n, dtype=torch.bool, device=allowed.device).triu(
            self.max_answer_tokens
        )
        if not bool(allowed.any()):
            return ""
        best = int(scores.masked_fill(~allowed, float("-inf")).argmax())
        i, j = divmod(best, n)
        first, last = offsets[i], offsets[j]
        return context[first[0] : last[1]] if first and last else ""

    def compute(self, split: int, loss: float) -> dict[str, float]:
        em, f1 = self.store[split].get("em", []), self.store[split].get("f1", [])
        return {
            "exact_match": 100 * sum(em) / max(len(em), 1),
            "f1": 100 * sum(f1) / max(len(f1), 1),
        }


def objective_class(task: str) -> type[Objective]:
    """The Objective subclass the task table names for a task (here or among the preference
    objectives)."""
    from framework.tasks import preference_objectives

    name = task_spec(task).objective
    cls = globals().get(name) or getattr(preference_objectives, name, None)
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise TypeError(f"task {task}: {cls!r} is not an Objective")
    return cls


def build_objective(
    task: str, labels: tuple[str, ...], preference_spec: PreferenceSpec | None = None
) -> Objective:
    """The objective of a task name (labels: class names or BIO tags; preference tasks: their
    hyperparameters)."""
    from framework.tasks.preference_objectives import PreferenceObjective

    cls = objective_class(task)
    if issubclass(cls, PreferenceObjective):
        return cls(preference_spec)
    return cls.for_labels(labels)
