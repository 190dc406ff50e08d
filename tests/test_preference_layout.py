"""OpenAI's preference layout ({"input": {"messages"}, "preferred_output", "non_preferred_output"})
read by the framework's one preference reader: the rows it gives, bad rows as file:line, and
`train.py task=dpo dataset=file ... dataset.format=preference` exiting 2 on them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.data.formats import RowSpec, holds_pairs
from framework.data.load import SourceSpec, load_rows
from framework.data.readers import Record
from framework.data.rows import PreferenceRow
from framework.errors import UserError
from tests.helpers import ROOT
from tests.service_kit import preference_row

PAIRS = RowSpec(format="preference")


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_openai_rows_read_as_preference_pairs(tmp_path: Path) -> None:
    row = preference_row(4)
    row["input"]["messages"].insert(0, {"role": "system", "content": "Answer with a number."})
    prefixed = {  # a reply may carry the conversation before it, as the other layout allows
        "input": {"messages": [{"role": "user", "content": "Hi"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello!"}],
        "non_preferred_output": {"role": "assistant", "content": "Go away."},
    }
    path = write_jsonl(tmp_path / "pairs.jsonl", [row, prefixed])
    first, second = load_rows(SourceSpec("file", str(path)), PAIRS).rows
    assert first == PreferenceRow(
        (("system", "Answer with a number."), ("user", "What is 4 plus one?")),
        "5",
        "11",
        f"{path}:1",
    )
    assert second == PreferenceRow((("user", "Hi"),), "Hello!", "Go away.", f"{path}:2")


def test_a_file_holds_pairs_by_its_keys() -> None:
    assert holds_pairs(Record("x:1", preference_row(0)))
    assert holds_pairs(Record("x:1", {"prompt": "Hi", "chosen": "a", "rejected": "b"}))
    assert not holds_pairs(Record("x:1", {"prompt": "Hi", "completion": "a"}))
    assert not holds_pairs(Record("x:1", {"input": {}, "preferred_output": []}))


def _changed(key: str, value: Any) -> dict[str, Any]:
    row = preference_row(1)
    if value is None:
        del row[key]
    else:
        row[key] = value
    return row


BAD = {
    "no non_preferred_output": (
        _changed("non_preferred_output", None),
        "missing column 'rejected' or 'non_preferred_output' (for rejected)",
    ),
    "the same reply": (
        _changed("non_preferred_output", [{"role": "assistant", "content": " 2"}]),
        "'preferred_output' and 'non_preferred_output' are the same reply",
    ),
    "empty reply": (
        _changed("preferred_output", [{"role": "assistant", "content": ""}]),
        "'preferred_output[0].content' must be a non-empty string",
    ),
    "a system reply": (
        _changed("preferred_output", [{"role": "system", "content": "2"}]),
        "the last message of 'preferred_output' must be the assistant's reply",
    ),
    "input a string": (
        _changed("input", "What is 1 plus one?"),
        "'input' must be an object with 'messages' (a list of messages)",
    ),
    "input with other keys": (
        _changed("input", {"messages": preference_row(1)["input"]["messages"], "functions": []}),
        "'input' has keys ['functions']; allowed: messages, parallel_tool_calls, tools",
    ),
    "prompt ends with the assistant": (
        _changed("input", {"messages": [{"role": "assistant", "content": "Hi"}]}),
        "the prompt must end with a user turn",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_openai_rows_name_file_and_line(tmp_path: Path, case: str) -> None:
    row, reason = BAD[case]
    path = write_jsonl(tmp_path / "rows.jsonl", [preference_row(0), preference_row(2), row])
    with pytest.raises(UserError) as caught:
        load_rows(SourceSpec("file", str(path)), PAIRS)
    assert str(caught.value).startswith(f"{path}:3: {reason}"), str(caught.value)


def test_train_py_exits_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from framework.cli.main import run

    row, reason = BAD["the same reply"]
    path = write_jsonl(tmp_path / "rows.jsonl", [preference_row(0), row])
    args = ["model=tiny", "task=dpo", "dataset=file", f"dataset.path={path}"]
    run_dir = tmp_path / "run"
    monkeypatch.setattr(
        sys, "argv", ["train.py", *args, "dataset.format=preference", f"hydra.run.dir={run_dir}"]
    )
    with pytest.raises(SystemExit) as exit_info:
        run(ROOT, lambda cfg: pytest.fail("the run must not start"))
    captured = capsys.readouterr()
    output = captured.err + captured.out
    assert exit_info.value.code == 2, output
    assert f"{path}:2: {reason}" in output and "Traceback" not in output
    assert not run_dir.exists()
