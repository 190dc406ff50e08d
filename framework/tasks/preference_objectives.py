"""The preference objectives (DPO, SimPO, ORPO, KTO): losses from sequence log-probabilities of
chosen and rejected replies, the reference model's where the loss needs one, and their metrics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch

from framework.data.render import IGNORE_INDEX
from framework.tasks import preference
from framework.tasks.lm_head import labelled_token_nll
from framework.tasks.objectives import Objective
from framework.tasks.preference import PreferenceSpec


class PreferenceObjective(Objective):
    """Preference tuning: a loss on the log-probabilities of two replies per example (chosen and
    rejected; KTO: the reply and a mismatched one), rewards and reward accuracy on validation.

    Batches hold 2B sequences (preference_encoder.PreferenceEncoder.collate): the first
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
        return {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "use_cache": False,
        }

    def sequence_logps(
        self, net: torch.nn.Module, batch: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sequence: the summed log-probability of its reply tokens, and their count (the
        LM head runs on the reply positions only: framework.tasks.lm_head)."""
        labels = batch["labels"]
        nll, rows = labelled_token_nll(net, self.inputs(batch), labels)
        logps = torch.zeros(labels.size(0), device=nll.device, dtype=nll.dtype)
        logps = logps.index_add(0, rows, -nll)
        return logps, (labels[:, 1:] != IGNORE_INDEX).sum(-1)

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
