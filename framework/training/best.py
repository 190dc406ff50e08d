"""Track the best validation check of a fit; keep (and restore) its trainable weights."""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

log = logging.getLogger(__name__)


class BestWeights(pl.Callback):
    """At each validation check during fit, compare `metric` with the best so far.

    keep=True copies the trainable weights of the best check (on the CPU) so `restore` can put
    them back before the run dir is written; keep=False only records the best step (shown in
    metrics.json and the card). patience: stop after that many checks without a better value.
    """

    def __init__(
        self, metric: str, higher: bool, *, keep: bool = True, patience: int | None = None
    ) -> None:
        self.metric = metric
        self.higher = higher
        self.keep = keep
        self.patience = patience
        self.best_value: float | None = None
        self.best_step: int | None = None
        self.checks: list[tuple[int, float]] = []  # (step, value) of every check seen
        self.stale_checks = 0
        self.stopped_early_at: int | None = None
        self._weights: dict[str, torch.Tensor] | None = None

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        found = trainer.callback_metrics.get(self.metric)
        if found is None:
            return
        # Every rank decides on rank 0's value: all keep the same step and stop together.
        value = float(trainer.strategy.broadcast(float(found), 0))
        self.offer(pl_module, value, int(trainer.global_step))
        if self.patience is not None and self.stale_checks >= self.patience:
            self.stopped_early_at = int(trainer.global_step)
            log.info(
                "early stopping at step %d: %s has not improved for %d checks (best %.6g at %d)",
                trainer.global_step,
                self.metric,
                self.stale_checks,
                self.best_value,
                self.best_step,
            )
            trainer.should_stop = True

    def better(self, value: float) -> bool:
        """Whether `value` beats the best so far (ties keep the earlier check)."""
        if self.best_value is None:
            return True
        return value > self.best_value if self.higher else value < self.best_value

    def offer(self, module: pl.LightningModule, value: float, step: int) -> bool:
        """Record one check; snapshot the weights when it is the best so far."""
        if self.checks and self.checks[-1][0] == step:  # the same weights, checked again
            return False
        self.checks.append((step, value))
        if not self.better(value):
            self.stale_checks += 1
            return False
        self.best_value, self.best_step, self.stale_checks = value, step, 0
        if self.keep:
            self._weights = {
                name: p.detach().to("cpu", copy=True)
                for name, p in module.named_parameters()
                if p.requires_grad
            }
        return True

    def restore(self, module: pl.LightningModule) -> bool:
        """Put the best check's trainable weights back; False when there is nothing to do."""
        if self._weights is None:
            return False
        params = dict(module.named_parameters())
        with torch.no_grad():
            for name, saved in self._weights.items():
                params[name].copy_(saved.to(params[name].device))
        return True

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to keep the same best: saved in every checkpoint (Lightning
        calls this when it writes one), with the best check's weights when keep=True."""
        return {
            "metric": self.metric,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "checks": [[step, value] for step, value in self.checks],
            "stale_checks": self.stale_checks,
            "stopped_early_at": self.stopped_early_at,
            "weights": self._weights,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue from a checkpoint's best check, patience counter and weights. A checkpoint
        that tracked another metric (run.keep_best changed with run.resume_changes=allow) is
        not comparable: tracking starts over, and the log says so."""
        if state_dict.get("metric") != self.metric:
            log.warning(
                "the checkpoint tracked the best %s, this run tracks %s: best check starts over",
                state_dict.get("metric"),
                self.metric,
            )
            return
        self.best_value = state_dict["best_value"]
        self.best_step = state_dict["best_step"]
        self.checks = [(int(step), float(value)) for step, value in state_dict["checks"]]
        self.stale_checks = int(state_dict["stale_checks"])
        self.stopped_early_at = state_dict["stopped_early_at"]
        self._weights = state_dict["weights"] if self.keep else None
        log.info(
            "best check restored from the checkpoint: %s=%s at step %s (%d checks, %d stale)",
            self.metric,
            self.best_value,
            self.best_step,
            len(self.checks),
            self.stale_checks,
        )

    def report(self) -> dict[str, Any]:
        """best_step, best_metric, best_value and early stopping, for metrics.json."""
        if self.best_step is None:
            return {}
        return {
            "best_metric": self.metric,
            "best_value": self.best_value,
            "best_step": self.best_step,
            "validation_checks": len(self.checks),
            "kept_best": self.keep,
            "stopped_early": self.stopped_early_at is not None,
        }
