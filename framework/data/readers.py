"""Read raw records (dicts) from local files, a saved `datasets` folder or the hub."""

from __future__ import annotations

import csv
import io
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


def read_file(path: str, encoding: str = "utf-8") -> Iterator[Record]:
    """Records of a local file; each names file:line (or file:row N).

    Text is UTF-8 (a byte-order mark is accepted) unless dataset.encoding names another.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"dataset.path='{path}': no such file")
    kind = file_type(path)
    if kind == "parquet":
        yield from _parquet(file)
        return
    text = decode(file, encoding)
    if kind == "jsonl":
        yield from _jsonl(file, text)
    elif kind == "json":
        yield from _json(file, text)
    elif kind in ("csv", "tsv"):
        yield from _csv(file, text, "\t" if kind == "tsv" else ",")
    else:
        yield from _txt(file, text)


def decode(file: Path, encoding: str) -> str:
    """The file's text; undecodable bytes stop the run at file:line, naming the encoding."""
    data = file.read_bytes()
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return data.decode(codec)
    except LookupError:
        raise UserError(f"dataset.encoding='{encoding}' is not a known text encoding") from None
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        guess = next((name for bom, name in BOMS if data.startswith(bom)), None)
        found = (
            f"the file is {guess}" if guess else f"byte 0x{data[error.start]:02x} is not {encoding}"
        )
        raise UserError(
            f"{file}:{line}: cannot read the file as {encoding} ({found}). Convert it "
            f"(iconv -f <encoding> -t UTF-8) or set dataset.encoding=<its encoding>"
        ) from None


BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))
MAX_FIELD_BYTES = 16 * 2**20  # one CSV cell; a larger one is almost surely a broken quote


def _jsonl(file: Path, text: str) -> Iterator[Record]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield _json_record(line, f"{file}:{number}")


def _json_record(text: str, origin: str) -> Record:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as error:
        hint = ARRAY_HINT if text.lstrip().startswith(("[", "]")) else ""
        return Record(origin, problem=f"malformed JSON ({error.msg}){hint}")
    except RecursionError:
        return Record(origin, problem="the row is nested too deeply to be data")
    if not isinstance(obj, dict):
        hint = ARRAY_HINT if isinstance(obj, list) else ""
        return Record(
            origin, problem=f"a row must be a JSON object, got {type(obj).__name__}{hint}"
        )
    return Record(origin, obj)


ARRAY_HINT = (
    "; this looks like a JSON array: a .jsonl file holds one object per line (save the array "
    "as .json instead)"
)


def _json(file: Path, text: str) -> Iterator[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        yield Record(f"{file}:{error.lineno}", problem=f"malformed JSON ({error.msg})")
        return
    except RecursionError:
        yield Record(f"{file}:1", problem="the data is nested too deeply to be rows")
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


def _csv(file: Path, text: str, delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise UserError(
                f"{file}:{reader.line_num + 1}: not readable as "
                f"{'TSV' if delimiter == chr(9) else 'CSV'} ({error}; cells hold at most "
                f"{MAX_FIELD_BYTES // 2**20} MiB: look for an unclosed quote)"
            ) from None
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


def _txt(file: Path, text: str) -> Iterator[Record]:
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield Record(f"{file}:{number}", {"text": line.rstrip("\r")})


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
