"""Hostile data files: wrong encodings, a byte-order mark, deep nesting, huge cells, wrong
field types, an array saved as .jsonl. Each is read, or refused with exit 2 at file:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.data.formats import RowSpec
from framework.data.load import SourceSpec, load_rows
from tests.test_bad_input import existing_run_dir, run_cli  # noqa: F401 (fixture)

ROW = {"prompt": "Hi there", "completion": "Hello!"}
GOOD = (json.dumps(ROW) + "\n") * 3


def hostile_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, a fragment the message must hold)."""
    files: dict[str, tuple[Path, str]] = {}

    def add(name: str, suffix: str, data: bytes, fragment: str) -> None:
        path = tmp / f"{name}{suffix}"
        path.write_bytes(data)
        files[name] = (path, fragment.replace("FILE", str(path)))

    add(
        "utf16",
        ".jsonl",
        GOOD.encode("utf-16"),
        "FILE:1: cannot read the file as utf-8 (the file is UTF-16)",
    )
    add("bad_utf8", ".jsonl", GOOD.encode() + b'{"prompt": "\xff"}\n', "FILE:4: cannot read")
    add("latin1_csv", ".csv", "prompt,completion\ncaf\xe9,ok\n".encode("latin-1"), "FILE:2:")
    add(
        "deep",
        ".jsonl",
        ("[" * 100_000 + "]" * 100_000).encode(),
        "FILE:1: the row is nested too deeply",
    )
    add("deep_json", ".json", ("[" * 100_000 + "]" * 100_000).encode(), "nested too deeply")
    big = "x" * (17 * 2**20)
    add(
        "huge_cell", ".csv", f"prompt,completion\n{big},b\n".encode(), "FILE:2: not readable as CSV"
    )
    add(
        "unclosed_quote",
        ".tsv",
        b'prompt\tcompletion\n"a\tb\n' + b"c\td\n" * 10,
        "FILE:2: fewer values than header columns",
    )
    role = {"messages": [{"role": ["user"], "content": "x"}, {"role": "assistant", "content": "y"}]}
    add("role_list", ".jsonl", (json.dumps(role) + "\n").encode(), "FILE:1: messages[0].role=")
    array = json.dumps([ROW, ROW], indent=1)
    add("array", ".jsonl", array.encode(), "looks like a JSON array")
    add("array_one_line", ".jsonl", json.dumps([ROW, ROW]).encode(), "looks like a JSON array")
    return files


NAMES = [
    "utf16",
    "bad_utf8",
    "latin1_csv",
    "deep",
    "deep_json",
    "huge_cell",
    "unclosed_quote",
    "role_list",
    "array",
    "array_one_line",
]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_file_exits_2_at_file_and_line(
    name: str,
    tmp_path: Path,
    existing_run_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, fragment = hostile_files(tmp_path)[name]
    dataset = "file" if path.suffix in (".csv", ".tsv", ".json") else "jsonl"
    args = ["model=tiny", f"dataset={dataset}", f"dataset.path={path}"]
    if path.suffix in (".csv", ".tsv"):
        args.append("dataset.format=prompt_completion")
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert fragment in output, output
    assert "Traceback" not in output
    assert sorted(p.name for p in existing_run_dir.iterdir()) == ["metrics.json"]


def _rows(path: Path, encoding: str = "utf-8") -> list[object]:
    spec = SourceSpec(source="file", path=str(path), encoding=encoding)
    return load_rows(spec, RowSpec(format="prompt_completion"), "error").rows


def test_utf8_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert len(_rows(path)) == 3


def test_another_encoding_is_read_when_named(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("prompt,completion\ncaf\xe9,ok\n".encode("latin-1"))
    (row,) = _rows(path, "latin-1")
    assert "café" in str(row)


def test_an_unknown_encoding_is_refused(
    tmp_path: Path,
    existing_run_dir: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "ok.jsonl"
    path.write_text(GOOD)
    args = ["model=tiny", "dataset=jsonl", f"dataset.path={path}", "dataset.encoding=klingon"]
    code, output = run_cli(args, existing_run_dir, capsys, monkeypatch)
    assert code == 2, output
    assert "dataset.encoding='klingon' is not a known text encoding" in output
