"""Per-task loss and validation metrics, called by the LightningModule (flat, no config)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch

from framework.data.render import IGNORE_INDEX
from framework.tasks import metrics, preference
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
        """Keyword arguments of the model's forward for a batch."""
        if "position_ids" in batch:
            # Packed: with no 2-D mask and no cache, transformers builds a block-diagonal
            # causal mask from the restarting position ids (no attention across examples).
            return {
                "input_ids": batch["input_ids"],
                "position_ids": batch["position_ids"],
                "use_cache": False,
            }
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def logits(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        logits: torch.Tensor = net(**self.inputs(batch)).logits
        return logits[:, -batch["input_ids"].size(1) :]  # prompt methods prepend virtual tokens

    def loss_sum(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        """(summed loss, number of loss terms) of a batch."""
        return token_loss_sum(self.logits(net, batch), batch["labels"])

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


class PreferenceObjective(Objective):
    """Preference tuning: a loss on the log-probabilities of two replies per example (chosen and
    rejected; KTO: the reply and a mismatched one), rewards and reward accuracy on validation.

    Batches hold 2B sequences (framework.data.encoders.PreferenceEncoder.collate): the first
    replies, then the second ones; one forward scores both. `reference` (set by the module,
    framework.training.reference) gives the reference model's log-probabilities of a batch.
    """

    uses_reference: ClassVar[bool] = True
    METRICS: ClassVar[tuple[str, ...]] = (
        "rewards_chosen",
        "rewards_rejected",
        "logps_chosen",
        "logps_rejected",
    )

    def __init__(self, spec: PreferenceSpec | None = None, splits: int = 2) -> None:
        super().__init__(splits)
        self.spec = spec or PreferenceSpec()
        self.reference: Callable[[torch.nn.Module, dict[str, Any]], torch.Tensor] | None = None

    @classmethod
    def for_labels(cls, labels: tuple[str, ...]) -> Objective:
        return cls()

    def inputs(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}

    def sequence_logps(
        self, net: torch.nn.Module, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sequence: the summed log-probability of its reply tokens, and their count."""
        logits = self.logits(net, batch)[:, :-1, :].float()
        labels = batch["labels"][:, 1:]
        keep = labels != IGNORE_INDEX
        token_logps = -torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)),
            labels.reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="none",
        ).view(labels.shape)
        return token_logps.sum(-1), keep.sum(-1)

    def reference_logps(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        """The reference model's summed reply log-probabilities of the batch's 2B sequences."""
        if self.reference is None:
            raise RuntimeError("the preference objective has no reference model attached")
        return self.reference(net, batch).detach()

    def terms(self, net: torch.nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Per example: `loss` and the metrics (rewards and log-probabilities)."""
        logps, counts = self.sequence_logps(net, batch)
        ref = self.reference_logps(net, batch) if self.uses_reference else None
        return self.losses(logps, counts.clamp(min=1), ref, batch)

    def losses(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        ref: torch.Tensor | None,
        batch: dict[str, Any],
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def loss_sum(self, net: torch.nn.Module, batch: dict[str, Any]) -> tuple[torch.Tensor, Any]:
        loss = self.terms(net, batch)["loss"]
        return loss.sum(), torch.tensor(loss.numel(), device=loss.device)

    def eval_step(
        self, net: torch.nn.Module, batch: dict[str, Any], split: int
    ) -> tuple[torch.Tensor, Any]:
        out = self.terms(net, batch)
        self._keep(split, **{k: v.detach().float().tolist() for k, v in out.items()})
        loss = out["loss"]
        return loss.sum(), torch.tensor(loss.numel(), device=loss.device)

    def compute(self, split: int, loss: float) -> dict[str, float]:
        store = self.store[split]
        mean = {k: sum(v) / max(len(v), 1) for k, v in store.items() if k != "loss"}
        chosen, rejected = store.get("rewards_chosen", []), store.get("rewards_rejected", [])
        pairs = list(zip(chosen, rejected, strict=True))
        out = {k: mean[k] for k in self.METRICS if k in mean}
        # Ties count half: before training every implicit reward is 0 (accuracy 0.5).
        out["reward_accuracy"] = sum((c > r) + 0.5 * (c == r) for c, r in pairs) / max(
            len(pairs), 1
        )
        out["reward_margin"] = mean.get("rewards_chosen", 0.0) - mean.get("rewards_rejected", 0.0)
        avg_c, avg_r = store.get("avg_logps_chosen", []), store.get("avg_logps_rejected", [])
        if avg_c:  # does the model itself prefer the chosen reply (per-token log-probability)?
            won = sum(c > r for c, r in zip(avg_c, avg_r, strict=True))
            out["logp_accuracy"] = won / len(avg_c)
        return out

    @staticmethod
    def _halves(values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        half = values.size(0) // 2
        return values[:half], values[half:]

    def _pair_metrics(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        rewards: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        (chosen, rejected), (n_c, n_r) = self._halves(logps), self._halves(counts)
        r_c, r_r = self._halves(rewards)
        return {
            "rewards_chosen": r_c.detach(),
            "rewards_rejected": r_r.detach(),
            "logps_chosen": chosen.detach(),
            "logps_rejected": rejected.detach(),
            "avg_logps_chosen": (chosen / n_c).detach(),
            "avg_logps_rejected": (rejected / n_r).detach(),
        }


class DPO(PreferenceObjective):
    """Direct preference optimisation (sigmoid, IPO or hinge loss) against a reference model."""

    def losses(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        ref: torch.Tensor | None,
        batch: dict[str, Any],
    ) -> dict[str, torch.Tensor]:
        assert ref is not None
        s = self.spec
        (chosen, rejected), (ref_c, ref_r) = self._halves(logps), self._halves(ref)
        loss = preference.dpo_losses(
            chosen, rejected, ref_c, ref_r, s.beta, s.loss, s.label_smoothing
        )
        return {"loss": loss, **self._pair_metrics(logps, counts, s.beta * (logps - ref))}


class SimPO(PreferenceObjective):
    """Simple preference optimisation: length-normalised, reference-free, a target margin."""

    uses_reference = False

    def losses(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        ref: torch.Tensor | None,
        batch: dict[str, Any],
    ) -> dict[str, torch.Tensor]:
        s = self.spec
        avg_c, avg_r = self._halves(logps / counts)
        loss = preference.simpo_losses(
            avg_c, avg_r, s.beta, s.simpo_gamma, s.loss, s.label_smoothing
        )
        return {"loss": loss, **self._pair_metrics(logps, counts, s.beta * logps / counts)}


class ORPO(PreferenceObjective):
    """Odds-ratio preference optimisation: SFT on the chosen reply plus an odds-ratio term."""

    uses_reference = False
    METRICS = (*PreferenceObjective.METRICS, "log_odds_ratio", "nll_chosen")

    def losses(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        ref: torch.Tensor | None,
        batch: dict[str, Any],
    ) -> dict[str, torch.Tensor]:
        s = self.spec
        avg_c, avg_r = self._halves(logps / counts)
        loss, ratio = preference.orpo_losses(avg_c, avg_r, s.orpo_lambda)
        metrics = self._pair_metrics(logps, counts, s.beta * logps / counts)
        return {
            "loss": loss,
            **metrics,
            "log_odds_ratio": ratio.detach(),
            "nll_chosen": -avg_c.detach(),
        }


class KTO(PreferenceObjective):
    """Kahneman-Tversky optimisation: one labelled reply per row, against a reference model and
    the batch's KL reference point (from mismatched prompt/reply pairs)."""

    METRICS = ("rewards_chosen", "rewards_rejected", "logps_chosen", "logps_rejected", "kl")

    def losses(
        self,
        logps: torch.Tensor,
        counts: torch.Tensor,
        ref: torch.Tensor | None,
        batch: dict[str, Any],
    ) -> dict[str, torch.Tensor]:
        assert ref is not None
        s = self.spec
        (own, mismatched), (ref_own, ref_mismatched) = self._halves(logps), self._halves(ref)
        kl = preference.kto_kl(mismatched, ref_mismatched)
        desirable = batch["desirable"]
        loss = preference.kto_losses(
            own,
            ref_own,
            desirable,
            kl,
            s.beta,
            s.kto_desirable_weight,
            s.kto_undesirable_weight,
        )
        self.last_kl = kl
        rewards = (s.beta * (own - ref_own)).detach()
        return {
            "loss": loss,
            "rewards": rewards,
            "desirable": desirable.float(),
            "logps": own.detach(),
            "kl": kl.expand_as(own),
        }

    def compute(self, split: int, loss: float) -> dict[str, float]:
        store = self.store[split]
        rewards, desirable = store.get("rewards", []), store.get("desirable", [])
        logps = store.get("logps", [])
        good = [r for r, d in zip(rewards, desirable, strict=True) if d]
        bad = [r for r, d in zip(rewards, desirable, strict=True) if not d]

        def mean(values: list[float]) -> float:
            return sum(values) / max(len(values), 1)

        # A row is right when its reward has its label's sign (ties count half).
        right = [
            (r > 0) + 0.5 * (r == 0) if d else (r < 0) + 0.5 * (r == 0)
            for r, d in zip(rewards, desirable, strict=True)
        ]
        return {
            "rewards_chosen": mean(good),
            "rewards_rejected": mean(bad),
            "reward_margin": mean(good) - mean(bad),
            "reward_accuracy": mean(right),
            "logps_chosen": mean([v for v, d in zip(logps, desirable, strict=True) if d]),
            "logps_rejected": mean([v for v, d in zip(logps, desirable, strict=True) if not d]),
            "kl": mean(store.get("kl", [])),
        }


def objective_class(task: str) -> type[Objective]:
    """The Objective subclass the task table names for a task."""
    cls = globals()[task_spec(task).objective]
    if not (isinstance(cls, type) and issubclass(cls, Objective)):
        raise TypeError(f"task {task}: {cls!r} is not an Objective")
    return cls


def build_objective(
    task: str, labels: tuple[str, ...], preference_spec: PreferenceSpec | None = None
) -> Objective:
    """The objective of a task name (labels: class names or BIO tags; preference tasks: their
    hyperparameters)."""
    cls = objective_class(task)
    if issubclass(cls, PreferenceObjective):
        return cls(preference_spec)
    return cls.for_labels(labels)
