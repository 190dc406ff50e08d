"""The rich progress bar: loss and tokens/s per step, epochs and the step budget labelled."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar

from framework.training.callbacks import Throughput


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar, labelled for step-bounded runs (no 'Epoch 0/-2'), with tokens/s."""

    def __init__(self, throughput: Throughput, every_n_steps: int = 1) -> None:
        super().__init__()
        self.throughput = throughput  # logs tok/s outside self.log: the bar reads it here
        # Logged values are read from the device every `every_n_steps` steps (the logging
        # interval), not at every step: in between the bar shows the last values read.
        self.every_n_steps = max(every_n_steps, 1)
        self._shown: dict[str, int | str | float | dict[str, float]] = {}
        self._shown_step = -1

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        text = f"Epoch {current_epoch}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            text += f"/{trainer.max_epochs - 1}"
        if trainer.max_steps > 0:
            text += f" (max {trainer.max_steps} steps)"
        width = len(self.validation_description)
        return f"{text:{width}}" if width > len(text) else text

    def get_metrics(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        """Lightning's bar metrics plus the last step's tokens/s (logged outside self.log),
        refreshed every `every_n_steps` optimizer steps and outside training."""
        step = trainer.global_step
        stale = step == self._shown_step or step % self.every_n_steps != 0
        if trainer.training and self._shown and stale:
            return self._shown
        metrics = super().get_metrics(trainer, pl_module)
        self._shown, self._shown_step = metrics, step
        if self.throughput.steps:
            metrics["tok/s"] = round(self.throughput.last_tokens_per_second, 1)
        return metrics
