"""Data: readers per file type, formats with column mapping, bad rows, packing, padding."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from framework.cli.main import run
from framework.data.formats import RowSpec
from framework.data.load import SourceSpec, load_rows
from framework.data.packing import pack, padding_ratio
from framework.data.render import IGNORE_INDEX, Encoded
from framework.data.rows import ChatRow, LabelRow, QARow, TagRow, TextRow
from framework.errors import UserError
from tests.data_fixtures import classification_csv, qa_jsonl, tagging_jsonl
from tests.helpers import ROOT

ROWS = [{"q": f"question {i}", "a": f"answer {i}"} for i in range(5)]
PC = RowSpec(format="prompt_completion", columns={"prompt": "q", "completion": "a"})


def write(path: Path, kind: str) -> Path:
    """ROWS in one file type."""
    if kind == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    elif kind == "json":
        path.write_text(json.dumps(ROWS, indent=1))
    elif kind in ("csv", "tsv"):
        sep = "," if kind == "csv" else "\t"
        path.write_text("q" + sep + "a\n" + "".join(f"{r['q']}{sep}{r['a']}\n" for r in ROWS))
    elif kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), path)
    return path


@pytest.mark.parametrize("kind", ["jsonl", "json", "csv", "tsv", "parquet"])
def test_every_file_type_reads_the_same_rows_with_a_column_mapping(
    kind: str, tmp_path: Path
) -> None:
    path = write(tmp_path / f"rows.{kind}", kind)
    rows = load_rows(SourceSpec("file", str(path)), PC).rows
    assert [r.messages for r in rows if isinstance(r, ChatRow)] == [
        (("user", r["q"]), ("assistant", r["a"])) for r in ROWS
    ]


def test_saved_dataset_folder_reads_a_split(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(ROWS)}).save_to_disk(str(tmp_path / "saved"))
    rows = load_rows(SourceSpec("disk", str(tmp_path / "saved"), split="train"), PC).rows
    assert len(rows) == 5 and rows[0].origin.endswith(":row 1")
    with pytest.raises(UserError, match="dataset.split='test'"):
        load_rows(SourceSpec("disk", str(tmp_path / "saved"), split="test"), PC)


def test_txt_is_raw_text_one_row_per_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("first line\n\nsecond line\n")
    rows = load_rows(SourceSpec("file", str(path)), RowSpec(format="text")).rows
    assert rows == [TextRow("first line", f"{path}:1"), TextRow("second line", f"{path}:3")]


def test_instruction_format_puts_input_under_the_instruction(tmp_path: Path) -> None:
    path = tmp_path / "alpaca.jsonl"
    lines = [
        {"instruction": "Translate.", "input": "chat", "output": "cat"},
        {"instruction": "Say hi.", "output": "hi"},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rows = load_rows(SourceSpec("file", str(path)), RowSpec()).rows  # auto-detected
    assert [r.messages for r in rows if isinstance(r, ChatRow)] == [
        (("user", "Translate.\n\nchat"), ("assistant", "cat")),
        (("user", "Say hi."), ("assistant", "hi")),
    ]


def test_sharegpt_roles_map_to_chat_roles(tmp_path: Path) -> None:
    path = tmp_path / "share.jsonl"
    turns = [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]
    path.write_text(json.dumps({"conversations": turns}) + "\n")
    (row,) = load_rows(SourceSpec("file", str(path)), RowSpec(format="chat")).rows
    assert isinstance(row, ChatRow) and row.messages == (("user", "hi"), ("assistant", "hello"))


def test_classification_tagging_and_qa_rows(tmp_path: Path) -> None:
    csv_rows = load_rows(
        SourceSpec("file", str(classification_csv(tmp_path / "c.csv", 4))),
        RowSpec("classification", {"text": "sentence", "label": "sentiment"}),
    ).rows
    assert all(isinstance(r, LabelRow) and r.label in ("pos", "neg") for r in csv_rows)
    assert csv_rows[0].origin.endswith("c.csv:2")
    tags = load_rows(
        SourceSpec("file", str(tagging_jsonl(tmp_path / "t.jsonl", 2))),
        RowSpec("token_classification", {"tokens": "words", "tags": "ner"}),
    ).rows
    assert isinstance(tags[0], TagRow) and tags[0].tags == ("B-PER", "O", "O", "B-LOC", "O")
    (qa,) = load_rows(
        SourceSpec("file", str(qa_jsonl(tmp_path / "q.jsonl", 1))), RowSpec("qa")
    ).rows
    assert isinstance(qa, QARow)
    text, start = qa.answers[0]
    assert qa.context[start : start + len(text)] == text


BAD = {
    "missing column": ("classification", '{"text": "x"}\n', ":1: missing column 'label'"),
    "unknown label": ("classification", '{"text": "x", "label": "meh"}\n', "unknown label 'meh'"),
    "bad tag": (
        "token_classification",
        '{"tokens": ["a"], "tags": ["PER"]}\n',
        "tags[0]='PER' is not a BIO tag",
    ),
    "length mismatch": (
        "token_classification",
        '{"tokens": ["a", "b"], "tags": ["O"]}\n',
        "2 tokens but 1 tags",
    ),
    "answer offset": (
        "qa",
        '{"context": "abc", "question": "q", "answers": {"text": ["b"], "answer_start": [0]}}\n',
        "answer 'b' is not in the context at offset 0",
    ),
    "malformed": ("chat", "{not json\n", ":1: malformed JSON"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_row_names_file_line_and_reason(name: str, tmp_path: Path) -> None:
    fmt, text, fragment = BAD[name]
    path = tmp_path / "bad.jsonl"
    good = {
        "classification": '{"text": "fine", "label": "pos"}\n',
        "token_classification": '{"tokens": ["a"], "tags": ["O"]}\n',
        "qa": '{"context": "abc", "question": "q", "answers": {"text": ["a"], '
        '"answer_start": [0]}}\n',
        "chat": '{"messages": [{"role": "user", "content": "a"}, '
        '{"role": "assistant", "content": "b"}]}\n',
    }[fmt]
    path.write_text(text + good)
    spec = RowSpec(format=fmt, labels=("pos", "neg") if fmt == "classification" else ())
    with pytest.raises(UserError) as error:
        load_rows(SourceSpec("file", str(path)), spec)
    assert f"{path}:1" in str(error.value) and fragment.lstrip(":1") in str(error.value)
    loaded = load_rows(SourceSpec("file", str(path)), spec, on_bad_row="skip")
    assert (len(loaded.rows), loaded.skipped) == (1, 1)
    assert loaded.skipped_examples[0].startswith(f"{path}:1: ")


def test_csv_row_with_too_many_values_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("text,label\nok,pos\nbroken,pos,extra\n")
    with pytest.raises(UserError, match=r"c\.csv:3: more values than header columns"):
        load_rows(SourceSpec("file", str(path)), RowSpec("classification"))


def test_bad_row_stops_the_cli_with_exit_2_before_a_run_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("text,label\ngood,pos\nbad,maybe\n")
    run_dir = tmp_path / "run"
    args = [
        "model=tiny_bert",
        "task=seq_cls",
        "dataset=file",
        f"dataset.path={data}",
        "dataset.format=classification",
        "dataset.labels=[pos,neg]",
        f"hydra.run.dir={run_dir}",
    ]
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    with pytest.raises(SystemExit) as exit_info:
        run(ROOT, lambda cfg: pytest.fail("the task must not start"))
    output = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert f"{data}:3: unknown label 'maybe'" in output
    assert not run_dir.exists()


def test_task_refuses_a_format_it_cannot_learn(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["model=tiny_bert", "task=token_cls", f"hydra.run.dir={tmp_path / 'run'}"]
    monkeypatch.setattr(sys, "argv", ["train.py", *args])
    with pytest.raises(SystemExit) as exit_info:
        run(ROOT, lambda cfg: pytest.fail("the task must not start"))
    assert exit_info.value.code == 2
    assert "task=token_cls cannot learn from dataset.format=chat" in capsys.readouterr().err


def encoded(ids: list[int], answer_from: int) -> Encoded:
    labels = [IGNORE_INDEX] * answer_from + ids[answer_from:]
    return Encoded(ids, labels, False)


def test_pack_restarts_positions_and_keeps_prompt_masking() -> None:
    a, b, c = encoded([1, 2, 3], 1), encoded([4, 5], 1), encoded([6, 7, 8, 9], 2)
    packed = pack([a, b, c], block=6)
    # Best fit, longest first: c opens a sequence, a does not fit beside it, b fills c's.
    assert [p.input_ids for p in packed] == [[6, 7, 8, 9, 4, 5], [1, 2, 3]]
    assert packed[0].position_ids == [0, 1, 2, 3, 0, 1]
    # b's first token is never a target of c's last one; masked prompt tokens stay masked.
    assert packed[0].labels == [IGNORE_INDEX, IGNORE_INDEX, 8, 9, IGNORE_INDEX, 5]
    assert packed[1].labels == [IGNORE_INDEX, 2, 3]


def test_pack_fills_sequences_that_in_order_packing_leaves_half_empty() -> None:
    """40, 40, 24, 24 tokens at block 64: two full sequences (in order it took three)."""
    rows = [encoded(list(range(1, n + 1)), 1) for n in (40, 40, 24, 24)]
    packed = pack(rows, block=64)
    assert [len(p.input_ids) for p in packed] == [64, 64]
    assert [p.position_ids for p in packed] == [[*range(40), *range(24)]] * 2


def test_padding_ratio() -> None:
    assert padding_ratio([4, 4, 4, 4], 2) == 0.0
    assert padding_ratio([1, 3], 2) == pytest.approx(1 / 3)


def test_packed_sequence_has_no_attention_across_examples() -> None:
    """Logits of each example inside a packed row equal the example's logits alone."""
    import torch

    from framework.data.encoders import pad_batch
    from framework.tasks.objectives import Objective

    model = build_tiny()
    model.eval()
    a, b = encoded([5, 6, 7, 8], 1), encoded([9, 10, 11], 1)
    packed = pad_batch(pack([a, b], block=16), pad_id=0)
    objective = Objective()
    with torch.no_grad():
        together = objective.logits(model, packed)[0]
        alone_a = objective.logits(model, pad_batch([a], 0))[0]
        alone_b = objective.logits(model, pad_batch([b], 0))[0]
    assert torch.allclose(together[:4], alone_a, atol=1e-5)
    assert torch.allclose(together[4:7], alone_b, atol=1e-5)


def build_tiny() -> Any:
    """A tiny random Llama (2 layers, hidden 64)."""
    from framework.config.schema import RandomInitConfig
    from framework.models.loader import build_random_llama

    return build_random_llama(RandomInitConfig(), vocab_size=32, seed=0)
