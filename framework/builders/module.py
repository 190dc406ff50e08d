"""The LightningModule from the `model`, `method`, `optim` and `task` groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from framework.builders.method import apply_context
from framework.builders.model import base_model_factory
from framework.builders.optim import build_optimizer_spec

if TYPE_CHECKING:
    from framework.data.datamodule import TaskDataModule
    from framework.methods.base import Method
    from framework.models.quantization import QuantizationSpec
    from framework.tasks.preference import PreferenceSpec
    from framework.training.module import FineTuneModule


def preference_spec(task: DictConfig) -> PreferenceSpec:
    """The preference hyperparameters of task.preference (used by preference tasks only)."""
    from framework.tasks.preference import PreferenceSpec

    p = task.preference
    return PreferenceSpec(
        beta=float(p.beta),
        loss=str(p.loss),
        label_smoothing=float(p.label_smoothing),
        simpo_gamma=float(p.simpo_gamma),
        orpo_lambda=float(p.orpo_lambda),
        kto_desirable_weight=float(p.kto_desirable_weight),
        kto_undesirable_weight=float(p.kto_undesirable_weight),
        reference=str(p.reference),
    )


def build_module(
    cfg: DictConfig,
    *,
    method: Method[Any],
    tokenizer: Any,
    datamodule: TaskDataModule,
    quantization: QuantizationSpec | None,
    offload_optimizer: bool,
) -> FineTuneModule:
    """The module that loads the base in configure_model, applies the method and trains.

    `quantization` is the method's spec as the hardware plan adjusts it (sharded 4-bit
    storage); `offload_optimizer` is whether ZeRO steps the optimizer on the CPU.
    """
    from framework.tasks.generation import build_generation_eval
    from framework.tasks.objectives import build_objective
    from framework.tasks.registry import task_spec
    from framework.training.module import FineTuneModule
    from framework.training.step_options import StepOptions

    task = str(cfg.task.name)
    return FineTuneModule(
        build_base=base_model_factory(
            cfg, tokenizer=tokenizer, quantization=quantization, labels=datamodule.labels
        ),
        method=method,
        apply_context=apply_context(cfg),
        optimizer_spec=build_optimizer_spec(
            cfg.optim,
            total_steps=int(cfg.trainer.max_steps),
            cpu_offload=offload_optimizer,
            has_head=not task_spec(task).generative,
        ),
        objective=build_objective(task, datamodule.labels, preference_spec(cfg.task)),
        generation=build_generation_eval(
            task,
            str(cfg.dataset.format),
            datamodule.val_rows,
            tokenizer,
            system_prompt=cfg.dataset.system_prompt,
            generate_rows=int(cfg.task.generate_rows),
            max_new_tokens=int(cfg.task.max_new_tokens),
            method_name=str(cfg.method.name),
        ),
        step_options=StepOptions(
            gradient_checkpointing=bool(cfg.trainer.gradient_checkpointing),
            compile=bool(cfg.trainer.compile),
        ),
    )
