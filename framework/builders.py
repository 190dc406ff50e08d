"""Builders: turn config nodes into flat constructor arguments (modules never see cfg)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.data.datamodule import ChatDataModule
from framework.data.split import load_rows, split_rows
from framework.models.loader import load_causal_lm, load_tokenizer
from framework.models.quantization import QuantizationSpec
from framework.models.source import ModelSource, resolve_source
from framework.training.optim import OptimizerSpec


def build_source(model: DictConfig) -> ModelSource:
    """Where the model preset's weights and tokenizer come from."""
    return resolve_source(
        str(model.name), model.hub_id, model.local_path, model.gguf_package, model.gguf_file
    )


def build_tokenizer(model: DictConfig, source: ModelSource, cache_dir: Path) -> Any:
    """The model's tokenizer (with chat template), cached when converted from GGUF."""
    return load_tokenizer(source, cache_dir, bool(model.trust_remote_code))


def base_model_factory(
    model: DictConfig,
    source: ModelSource,
    cache_dir: Path,
    vocab_size: int,
    seed: int,
    quantization: QuantizationSpec | None = None,
) -> partial[Any]:
    """A zero-argument callable that loads the base model (called in configure_model)."""
    return partial(
        load_causal_lm,
        source,
        cache_dir,
        str(model.dtype),
        bool(model.trust_remote_code),
        model.random_init,
        vocab_size,
        seed,
        quantization,
    )


def build_datamodule(dataset: DictConfig, tokenizer: Any, seed: int) -> ChatDataModule:
    """Rows from the preset's source, split, rendered by the chat template."""
    rows = load_rows(str(dataset.source), dataset.path, list(dataset.categories))
    train_rows, val_rows = split_rows(
        rows,
        float(dataset.val_fraction),
        dataset.val_max_rows,
        dataset.limit,
        int(dataset.shuffle_seed),
    )
    return ChatDataModule(
        train_rows=train_rows,
        val_rows=val_rows,
        tokenizer=tokenizer,
        max_length=int(dataset.max_length),
        train_on_prompt=bool(dataset.train_on_prompt),
        system_prompt=dataset.system_prompt,
        batch_size=int(dataset.batch_size),
        eval_batch_size=int(dataset.eval_batch_size),
        num_workers=int(dataset.num_workers),
        seed=seed,
    )


def build_optimizer_spec(
    optim: DictConfig, total_steps: int, cpu_offload: bool = False
) -> OptimizerSpec:
    """Flat optimizer settings (cpu_offload: ZeRO offload steps it with DeepSpeedCPUAdam)."""
    betas = tuple(float(b) for b in optim.betas)
    return OptimizerSpec(
        name=str(optim.name),
        lr=float(optim.lr),
        weight_decay=float(optim.weight_decay),
        betas=(betas[0], betas[1]),
        eps=float(optim.eps),
        momentum=float(optim.momentum),
        scheduler=str(optim.scheduler),
        warmup_steps=int(optim.warmup_steps),
        total_steps=total_steps,
        cpu_offload=cpu_offload,
    )


def trainer_arguments(trainer: DictConfig) -> dict[str, Any]:
    """Trainer keys passed by name to Lightning."""
    return {
        "max_steps": int(trainer.max_steps),
        "max_epochs": trainer.max_epochs if trainer.max_epochs is not None else -1,
        "accumulate_grad_batches": int(trainer.accumulate_grad_batches),
        "gradient_clip_val": trainer.gradient_clip_val,
        "log_every_n_steps": int(trainer.log_every_n_steps),
        "val_check_interval": trainer.val_check_interval,
        "limit_val_batches": trainer.limit_val_batches,
        "enable_progress_bar": bool(trainer.enable_progress_bar),
        "deterministic": bool(trainer.deterministic),
    }
