"""The LightningModule: loads the base in configure_model, applies the method, trains."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torchmetrics import SumMetric

from framework.methods.base import ApplyContext, Method
from framework.tasks.generation import GenerationEval
from framework.tasks.objectives import Objective
from framework.tasks.preference_objectives import PreferenceObjective
from framework.training.checkpointing import run_between_steps
from framework.training.optim import (
    OptimizerSpec,
    build_optimizer,
    build_scheduler,
    trainable_groups,
    with_head_lr,
)
from framework.training.rng import (
    capture_rng_of_every_rank,
    restore_rng,
    restore_rng_of_this_rank,
    rng_untouched,
)
from framework.training.step_options import StepOptions, apply_step_options

EVAL_SPLITS = ("val", "train_eval")  # the order of TaskDataModule.val_dataloader()


class FineTuneModule(pl.LightningModule):
    """Causal-LM fine-tuning with any registered method."""

    def __init__(
        self,
        build_base: Callable[[], torch.nn.Module],
        method: Method[Any],
        apply_context: ApplyContext,
        optimizer_spec: OptimizerSpec,
        objective: Objective | None = None,
        generation: GenerationEval | None = None,
        step_options: StepOptions | None = None,
    ) -> None:
        super().__init__()
        self.objective = objective or Objective()  # the task's loss and validation metrics
        self.generation = generation  # greedy answers on held-out prompts (generative tasks)
        self.build_base = build_base
        self.method = method
        self.apply_context = apply_context
        self.optimizer_spec = optimizer_spec
        self.step_options = step_options or StepOptions()
        self.model: torch.nn.Module | None = None
        # One (loss sum, token count) pair per evaluation loader: held-out val, train sample.
        self.eval_sums = torch.nn.ModuleList([SumMetric() for _ in EVAL_SPLITS])
        self.eval_counts = torch.nn.ModuleList([SumMetric() for _ in EVAL_SPLITS])
        # Checkpoints hold only trainable weights; frozen base weights come from the base.
        self.strict_loading = False
        # The last validation's per-class scores and collapse (Objective.report on "val").
        self.val_report: dict[str, Any] = {}

    def build_model(self) -> torch.nn.Module:
        """A fresh, unsharded adapted model: the base with the method applied."""
        base = self.build_base()
        base.requires_grad_(False)
        model = self.method.apply(base, self.apply_context)
        model.train()  # from_pretrained returns eval mode; Lightning switches for eval
        apply_step_options(model, self.step_options)
        return model

    def configure_model(self) -> None:
        if self.model is not None:
            return
        # Built without moving the RNGs, so training draws the same dropout masks whether or not
        # a validation (a before-metrics cache miss) ran this hook first.
        with rng_untouched():
            self.model = self.build_model()
        if self.device_mesh is not None:  # ModelParallelStrategy: FSDP2 over the data ranks
            from framework.hardware.strategies import shard_with_fsdp2

            shard_with_fsdp2(self.model, self.device_mesh["data_parallel"])

    @property
    def net(self) -> torch.nn.Module:
        if self.model is None:
            raise RuntimeError("configure_model() has not run yet")
        return self.model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        logits = self.net(input_ids=input_ids, attention_mask=attention_mask).logits
        return logits[:, -input_ids.size(1) :]  # prompt methods prepend virtual-token logits

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss_sum, count = self.objective.loss_sum(self.net, batch)
        # The token mean over the *global* batch: each rank scales its sum by world/total
        # tokens, so the gradient average DDP/DeepSpeed/FSDP take equals the single-process
        # gradient even when ranks hold different token counts.
        totals = self.trainer.strategy.reduce(
            torch.stack([loss_sum.detach(), count.to(loss_sum.dtype)]), reduce_op="sum"
        )
        total_count = totals[1].clamp(min=1)
        loss = loss_sum * self.trainer.world_size / total_count
        global_loss = totals[0] / total_count
        # A tensor: Lightning reads it only when it logs (every trainer.log_every_n_steps).
        rows = batch["input_ids"].size(0)
        self.log("train/loss", global_loss, prog_bar=True, on_step=True, batch_size=rows)
        return loss

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Before each training batch is counted: the between-steps work of the callbacks
        (checkpoints, preemption; checkpointing.BetweenSteps says why here)."""
        run_between_steps(self.trainer)
        return batch

    def on_validation_start(self) -> None:
        self._prepare_objective()

    def on_train_start(self) -> None:
        self._prepare_objective()

    def _prepare_objective(self) -> None:
        """Preference tasks: attach the reference model before the first step that needs it."""
        if isinstance(self.objective, PreferenceObjective):
            from framework.training.reference import attach_reference

            attach_reference(self, self.objective)

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """The method's per-step work (AdaLoRA's rank allocation) right after the step: before
        the callbacks' on_train_batch_end, so a checkpoint taken there holds its result."""
        super().optimizer_step(*args, **kwargs)
        self.method.on_train_step_end(self.net, self.global_step + 1)  # counted after this hook

    def validation_step(
        self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        loss_sum, count = self.objective.eval_step(self.net, batch, dataloader_idx)
        self._metric(self.eval_sums, dataloader_idx).update(loss_sum)
        self._metric(self.eval_counts, dataloader_idx).update(count)

    @staticmethod
    def _metric(metrics: torch.nn.ModuleList, index: int) -> SumMetric:
        return cast(SumMetric, metrics[index])

    def on_validation_epoch_end(self) -> None:
        for index, split in enumerate(EVAL_SPLITS):
            total = self._metric(self.eval_sums, index)
            count = self._metric(self.eval_counts, index)
            if count.update_count == 0:
                continue
            loss = total.compute() / count.compute().clamp(min=1)
            self.log(f"{split}/loss", loss, prog_bar=split == "val", add_dataloader_idx=False)
            for name, value in self.objective.compute(index, float(loss)).items():
                self.log(f"{split}/{name}", value, add_dataloader_idx=False)
            if split == "val":
                self.val_report = self.objective.report(index)
            if split == "val" and self.generation is not None:
                scores = self.generation.evaluate(self.net, self.trainer.world_size)
                for name, value in scores.items():
                    self.log(f"val/{name}", value, add_dataloader_idx=False)
            total.reset()
            count.reset()
        self.objective.reset()

    def configure_optimizers(self) -> Any:
        spec = self.optimizer_spec
        groups = self.method.param_groups(self.net, spec.lr)
        if spec.head_lr_ratio != 1.0:
            from framework.models.heads import head_parameter_ids

            head = head_parameter_ids(self.net)
            groups = with_head_lr(trainable_groups(groups), head, spec.lr, spec.head_lr_ratio)
        optimizer = build_optimizer(groups, self.optimizer_spec)
        scheduler = build_scheduler(optimizer, self.optimizer_spec)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        state = checkpoint["state_dict"]
        checkpoint["state_dict"] = {k: v for k, v in state.items() if k in trainable}
        checkpoint["rng_ranks"] = capture_rng_of_every_rank()  # each rank its own
        checkpoint["method_state"] = self.method.checkpoint_state(self.net)
        table = getattr(getattr(self.objective, "reference", None), "table", None)
        if table is not None:  # precomputed reference log-probabilities (preference tasks)
            checkpoint["reference_logps"] = table

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_ranks" in checkpoint:
            restore_rng_of_this_rank(checkpoint["rng_ranks"])
        elif "rng" in checkpoint:  # written before every rank's state was kept
            restore_rng(checkpoint["rng"])
        if "method_state" in checkpoint:
            self.method.load_checkpoint_state(self.net, checkpoint["method_state"])
        if "reference_logps" in checkpoint and isinstance(self.objective, PreferenceObjective):
            from framework.training.reference import Precomputed

            self.objective.reference = Precomputed(checkpoint["reference_logps"])

    def parameter_counts(self) -> tuple[int, int]:
        """(trainable, total) parameter counts of the adapted model."""
        trainable = sum(full_numel(p) for p in self.net.parameters() if p.requires_grad)
        total = sum(full_numel(p) for p in self.net.parameters())
        return trainable, total


def full_numel(param: torch.nn.Parameter) -> int:
    """Elements of a parameter, whole even when ZeRO-3 partitioned it (FSDP2 DTensors are)."""
    return int(getattr(param, "ds_numel", param.numel()))
