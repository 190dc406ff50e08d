"""The `dataset` group (with the task): row specs, the task's encoder and the DataModule.

source_spec and row_spec stay import-light: the checks parse a local file with them before
anything heavy loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from omegaconf import DictConfig

from framework.data.formats import RowSpec
from framework.data.load import SourceSpec
from framework.tasks.registry import CAUSAL_LM, task_spec

if TYPE_CHECKING:
    from framework.data.datamodule import RowEncoder, TaskDataModule
    from framework.data.rows import Row


def source_spec(dataset: DictConfig) -> SourceSpec:
    """Where the dataset preset's rows come from."""
    return SourceSpec(
        source=str(dataset.source),
        path=dataset.path,
        split=str(dataset.split),
        categories=tuple(dataset.categories),
        encoding=str(dataset.encoding),
    )


def row_spec(dataset: DictConfig) -> RowSpec:
    """How the dataset preset's records become rows."""
    return RowSpec(
        format=str(dataset.format),
        columns={str(k): str(v) for k, v in dataset.columns.items() if v is not None},
        labels=tuple(str(label) for label in dataset.labels),
        source_lang=str(dataset.source_lang),
        target_lang=str(dataset.target_lang),
    )


def label_names(task: str, configured: list[str], rows: list[Row]) -> tuple[str, ...]:
    """Class labels (seq_cls) or BIO tags (token_cls): configured, else found in the rows."""
    from framework.data.rows import LabelRow, TagRow

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
    task: str, dataset: DictConfig, *, tokenizer: Any, labels: tuple[str, ...]
) -> RowEncoder:
    """The task's encoder with the dataset's flat settings."""
    from framework.data import encoders

    length = int(dataset.max_length)
    spec = task_spec(task)
    if not spec.generative:  # the encoder the task table names: (tokenizer, length[, labels])
        args = (tokenizer, length, labels) if spec.labels else (tokenizer, length)
        return cast("RowEncoder", getattr(encoders, spec.encoder)(*args))
    if spec.encoder == "PreferenceEncoder":
        from framework.data.preference_encoder import PreferenceEncoder

        return PreferenceEncoder(
            tokenizer,
            length,
            dataset.system_prompt,
            int(dataset.batch_size),
            kto=task == "kto",
        )
    return encoders.CausalEncoder(
        tokenizer,
        length,
        bool(dataset.train_on_prompt),
        dataset.system_prompt,
        bool(dataset.packing),
        int(dataset.batch_size),
        str(dataset.train_on),
    )


def load_split(dataset: DictConfig, task: str) -> tuple[list[Row], list[Row], tuple[str, ...], int]:
    """The preset's rows, split into (train, validation), the task's labels and the count of
    skipped bad rows: what training and `run.preview` both start from."""
    from framework.data.load import load_rows
    from framework.data.split import split_rows

    loaded = load_rows(source_spec(dataset), row_spec(dataset), str(dataset.on_bad_row))
    train_rows, val_rows = split_rows(
        loaded.rows,
        float(dataset.val_fraction),
        dataset.val_max_rows,
        dataset.limit,
        int(dataset.shuffle_seed),
    )
    labels = label_names(task, list(dataset.labels), loaded.rows)
    return train_rows, val_rows, labels, loaded.skipped


def build_datamodule(
    dataset: DictConfig,
    *,
    tokenizer: Any,
    seed: int,
    task: str = CAUSAL_LM,
    cache_dir: Path | None = None,
) -> TaskDataModule:
    """Rows from the preset's source, split, encoded for the task (cached under cache_dir)."""
    from framework.data.cache import EncodedCache
    from framework.data.datamodule import TaskDataModule

    train_rows, val_rows, labels, skipped = load_split(dataset, task)
    return TaskDataModule(
        train_rows=train_rows,
        val_rows=val_rows,
        encoder=build_encoder(task, dataset, tokenizer=tokenizer, labels=labels),
        batch_size=int(dataset.batch_size),
        eval_batch_size=int(dataset.eval_batch_size),
        num_workers=int(dataset.num_workers),
        seed=seed,
        skipped_rows=skipped,
        labels=labels,
        cache=EncodedCache(cache_dir / "datasets") if cache_dir and dataset.cache else None,
        group_by_length=bool(dataset.group_by_length),
    )
