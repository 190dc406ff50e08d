"""Builders for the data specs (importable without torch: validation parses files early)."""

from __future__ import annotations

from omegaconf import DictConfig

from framework.data.formats import RowSpec
from framework.data.load import SourceSpec


def source_spec(dataset: DictConfig) -> SourceSpec:
    """Where the dataset preset's rows come from."""
    return SourceSpec(
        source=str(dataset.source),
        path=dataset.path,
        split=str(dataset.split),
        categories=tuple(dataset.categories),
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
