"""Read raw records (dicts) from local files, a saved `datasets` folder or the hub."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from framework.errors import UserError, allowed_list

FILE_TYPES = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".txt": "txt",
}


@dataclass(frozen=True)
class Record:
    """One raw row: its fields, where it came from, or why it could not be read."""

    origin: str  # file:line (or file:row N for columnar files)
    fields: dict[str, Any] = field(default_factory=dict)
    problem: str = ""  # non-empty: the row is unreadable (malformed JSON, not an object)


def file_type(path: str) -> str:
    """The reader for a local file, by its extension."""
    suffix = Path(path).suffix.lower()
    if suffix not in FILE_TYPES:
        raise UserError(
            f"dataset.path='{path}': unsupported file type '{suffix}' "
            f"(allowed: {allowed_list(FILE_TYPES)})"
        )
    return FILE_TYPES[suffix]


def read_file(path: str) -> Iterator[Record]:
    """Records of a local file; each names file:line (or file:row N)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"dataset.path='{path}': no such file")
    kind = file_type(path)
    if kind == "jsonl":
        yield from _jsonl(file)
    elif kind == "json":
        yield from _json(file)
    elif kind in ("csv", "tsv"):
        yield from _csv(file, "\t" if kind == "tsv" else ",")
    elif kind == "parquet":
        yield from _parquet(file)
    else:
        yield from _txt(file)


def _jsonl(file: Path) -> Iterator[Record]:
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _json_record(line, f"{file}:{number}")


def _json_record(text: str, origin: str) -> Record:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as error:
        return Record(origin, problem=f"malformed JSON ({error.msg})")
    if not isinstance(obj, dict):
        return Record(origin, problem=f"a row must be a JSON object, got {type(obj).__name__}")
    return Record(origin, obj)


def _json(file: Path) -> Iterator[Record]:
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        yield Record(f"{file}:{error.lineno}", problem=f"malformed JSON ({error.msg})")
        return
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        yield Record(f"{file}:1", problem="a .json file must hold a list of row objects")
        return
    for index, obj in enumerate(data):
        origin = f"{file}:row {index + 1}"
        if isinstance(obj, dict):
            yield Record(origin, obj)
        else:
            yield Record(origin, problem=f"a row must be a JSON object, got {type(obj).__name__}")


def _csv(file: Path, delimiter: str) -> Iterator[Record]:
    with file.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        line = 1
        for row in reader:
            origin = f"{file}:{line + 1}"
            line = reader.line_num
            if None in row:
                yield Record(origin, problem="more values than header columns")
            elif any(value is None for value in row.values()):
                yield Record(origin, problem="fewer values than header columns")
            else:
                yield Record(origin, dict(row))


def _parquet(file: Path) -> Iterator[Record]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(file)
    except Exception as error:  # pyarrow raises several types for an unreadable file
        raise UserError(f"dataset.path='{file}': not a readable parquet file ({error})") from None
    for index, obj in enumerate(table.to_pylist()):
        yield Record(f"{file}:row {index + 1}", obj)


def _txt(file: Path) -> Iterator[Record]:
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield Record(f"{file}:{number}", {"text": line.rstrip("\n")})


def read_saved(path: str, split: str) -> Iterator[Record]:
    """Records of a folder written by `datasets` save_to_disk (a Dataset or a DatasetDict)."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"dataset.path='{path}': no such folder (dataset.source=disk)")
    from datasets import DatasetDict, load_from_disk

    try:
        data: Any = load_from_disk(str(folder))
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"dataset.path='{path}': not a saved dataset ({error})") from None
    if isinstance(data, DatasetDict):
        if split not in data:
            raise UserError(
                f"dataset.split='{split}' is not in {path} (splits: {allowed_list(data)})"
            )
        data = data[split]
    for index, obj in enumerate(data):
        yield Record(f"{folder}:row {index + 1}", dict(obj))


def read_hub(name: str, split: str) -> Iterator[Record]:
    """Records of a hub dataset (needs the network, or the local `datasets` cache)."""
    from datasets import load_dataset

    try:
        data = load_dataset(name, split=split)
    except Exception as error:  # offline: ConnectionError, DatasetNotFoundError, ...
        raise UserError(
            f"dataset.path='{name}' could not be loaded from the hub "
            f"({type(error).__name__}). Offline: save it with `save_to_disk` on a machine "
            "with network access and use dataset.source=disk dataset.path=/that/folder"
        ) from None
    for index, obj in enumerate(data):
        yield Record(f"{name}[{split}]:row {index + 1}", dict(obj))
