"""Load a dataset's rows from its source: read records, parse by format, apply on_bad_row."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from framework.data.fields import BadRow
from framework.data.formats import RowSpec, parse
from framework.data.readers import Record, read_file, read_hub, read_saved
from framework.data.rows import Row
from framework.data.sources import CORPORA, corpus_records
from framework.errors import UserError

log = logging.getLogger(__name__)

FILE_SOURCES = ("file", "jsonl")  # jsonl: the older name of file
SOURCES = (*FILE_SOURCES, "disk", "hub", *CORPORA)
BAD_ROW_POLICIES = ("error", "skip")


@dataclass(frozen=True)
class SourceSpec:
    """Where rows come from: a source kind, a path (file, folder or hub id), a split."""

    source: str
    path: str | None = None
    split: str = "train"
    categories: tuple[str, ...] = ()
    encoding: str = "utf-8"  # local text files (a UTF-8 byte-order mark is accepted)


@dataclass
class Loaded:
    """Parsed rows, and the bad rows skipped (count and the first few reasons)."""

    rows: list[Row]
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)


def records(spec: SourceSpec) -> Iterator[Record]:
    """The raw records of a source."""
    if spec.source in FILE_SOURCES or spec.source in ("disk", "hub"):
        if not spec.path:
            raise UserError(f"dataset.path is required for dataset.source={spec.source}")
        if spec.source == "disk":
            return read_saved(spec.path, spec.split)
        if spec.source == "hub":
            return read_hub(spec.path, spec.split)
        return read_file(spec.path, spec.encoding)
    return corpus_records(spec.source, list(spec.categories))


def load_rows(source: SourceSpec, rows: RowSpec, on_bad_row: str = "error") -> Loaded:
    """Every usable row; a bad row stops with file:line and why, or is skipped and counted."""
    loaded = Loaded(rows=[])
    for record in records(source):
        try:
            loaded.rows.append(parse(record, rows))
        except BadRow as bad:
            if on_bad_row != "skip":
                raise UserError(f"{bad} (or skip bad rows with dataset.on_bad_row=skip)") from None
            loaded.skipped += 1
            if len(loaded.skipped_examples) < 5:
                loaded.skipped_examples.append(str(bad))
    if loaded.skipped:
        log.warning(
            "skipped %d bad rows (dataset.on_bad_row=skip), e.g. %s",
            loaded.skipped,
            "; ".join(loaded.skipped_examples[:3]),
        )
    if not loaded.rows:
        where = source.path or source.source
        raise UserError(
            f"dataset.path='{where}': the file has no rows"
            + (f" ({loaded.skipped} bad rows skipped)" if loaded.skipped else "")
        )
    return loaded
