"""Builders: turn config nodes into flat constructor arguments (modules never see cfg)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig

from framework.builders_data import row_spec, source_spec
from framework.data import encoders
from framework.data.cache import EncodedCache
from framework.data.datamodule import RowEncoder, TaskDataModule
from framework.data.encoders import CausalEncoder
from framework.data.load import load_rows
from framework.data.rows import LabelRow, Row, TagRow
from framework.data.split import split_rows
from framework.models.heads import load_task_model
from framework.models.loader import BaseSpec, load_tokenizer
from framework.models.quantization import QuantizationSpec
from framework.models.source import ModelSource, resolve_source
from framework.tasks.registry import CAUSAL_LM, task_spec
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
    cfg: DictConfig,
    tokenizer: Any,
    quantization: QuantizationSpec | None,
    labels: tuple[str, ...] = (),
) -> partial[Any]:
    """A zero-argument callable that loads the run's base with its task head.

    Training (configure_model) and inference (from a run's config.yaml) both build it here.
    """
    model = cfg.model
    spec = BaseSpec(
        build_source(model),
        Path(str(cfg.paths.cache_dir)),
        str(model.dtype),
        bool(model.trust_remote_code),
        model.random_init,
        len(tokenizer),
        int(cfg.run.seed),
        quantization,
    )
    return partial(
        load_task_model,
        str(cfg.task.name),
        labels,
        str(model.architecture),
        int(tokenizer.pad_token_id),
        spec,
    )


def label_names(task: str, configured: list[str], rows: list[Row]) -> tuple[str, ...]:
    """Class labels (seq_cls) or BIO tags (token_cls): configured, else found in the rows."""
    kind = task_spec(task).labels
    if not kind:
        return ()
    if configured:
        return tuple(str(label) for label in configured)
    found: set[str] = set()
    for row in rows:
        if isinstance(row, LabelRow):
            found.add(row.label)
        elif isinstance(row, TagRow):
            found.update(row.tags)
    if kind == "tags":
        found.add("O")
        return ("O", *sorted(found - {"O"}))
    return tuple(sorted(found))


def build_encoder(
    task: str, dataset: DictConfig, tokenizer: Any, labels: tuple[str, ...]
) -> RowEncoder:
    """The task's encoder with the dataset's flat settings."""
    length = int(dataset.max_length)
    spec = task_spec(task)
    if not spec.generative:  # the encoder the task table names: (tokenizer, length[, labels])
        args = (tokenizer, length, labels) if spec.labels else (tokenizer, length)
        return cast(RowEncoder, getattr(encoders, spec.encoder)(*args))
    return CausalEncoder(
        tokenizer,
        length,
        bool(dataset.train_on_prompt),
        dataset.system_prompt,
        bool(dataset.packing),
        int(dataset.batch_size),
    )


def build_datamodule(
    dataset: DictConfig,
    tokenizer: Any,
    seed: int,
    task: str = CAUSAL_LM,
    cache_dir: Path | None = None,
) -> TaskDataModule:
    """Rows from the preset's source, split, encoded for the task (cached under cache_dir)."""
    loaded = load_rows(source_spec(dataset), row_spec(dataset), str(dataset.on_bad_row))
    train_rows, val_rows = split_rows(
        loaded.rows,
        float(dataset.val_fraction),
        dataset.val_max_rows,
        dataset.limit,
        int(dataset.shuffle_seed),
    )
    labels = label_names(task, list(dataset.labels), loaded.rows)
    return TaskDataModule(
        train_rows=train_rows,
        val_rows=val_rows,
        encoder=build_encoder(task, dataset, tokenizer, labels),
        batch_size=int(dataset.batch_size),
        eval_batch_size=int(dataset.eval_batch_size),
        num_workers=int(dataset.num_workers),
        seed=seed,
        skipped_rows=loaded.skipped,
        labels=labels,
        cache=EncodedCache(cache_dir / "datasets") if cache_dir and dataset.cache else None,
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
