"""The rich progress bar: loss and tokens/s per step, epochs and the step budget labelled."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichProgressBar

from framework.training.callbacks import Throughput


class StepProgressBar(RichProgressBar):
    """Lightning's rich bar, labelled for step-bounded runs (no 'Epoch 0/-2'), with tokens/s."""

    def __init__(self, throughput: Throughput) -> None:
        super().__init__()
        self.throughput = throughput  # logs tok/s outside self.log: the bar reads it here

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
        """Lightning's bar metrics plus the last step's tokens/s (logged outside self.log)."""
        metrics = super().get_metrics(trainer, pl_module)
        if self.throughput.steps:
            metrics["tok/s"] = round(self.throughput.last_tokens_per_second, 1)
        return metrics
