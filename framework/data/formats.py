"""Turn a raw record into a typed row by format, with a column mapping; bad rows say why."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.data.readers import Record
from framework.data.rows import ChatRow, LabelRow, PairRow, QARow, Row, TagRow, TextRow
from framework.errors import allowed_list, did_you_mean

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}
# Each format's canonical fields; dataset.columns maps a field to the file's column name.
FIELDS: dict[str, tuple[str, ...]] = {
    "chat": ("messages",),
    "instruction": ("instruction", "input", "output"),
    "prompt_completion": ("prompt", "completion"),
    "text": ("text",),
    "classification": ("text", "label"),
    "token_classification": ("tokens", "tags"),
    "qa": ("context", "question", "answers"),
    "translation": ("source", "target"),
}
FORMATS = ("auto", *FIELDS)


class BadRow(Exception):
    """A row that cannot be used: where it is and why."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin, self.reason = origin, reason


@dataclass(frozen=True)
class RowSpec:
    """How records become rows: the format, the column mapping and format options."""

    format: str = "auto"
    columns: Mapping[str, str] = field(default_factory=dict)
    labels: tuple[str, ...] = ()  # allowed class labels; empty: any (inferred)
    source_lang: str = ""
    target_lang: str = ""


def parse(record: Record, spec: RowSpec) -> Row:
    """The typed row of a record; BadRow when it is malformed or misses a column."""
    if record.problem:
        raise BadRow(record.origin, record.problem)
    fmt = spec.format if spec.format != "auto" else _detect(record, spec)
    get = _Getter(record, spec.columns)
    if fmt == "chat":
        return ChatRow(
            _messages(get.raw("messages", ("conversations",)), record.origin), get.origin
        )
    if fmt == "prompt_completion":
        return _pair_chat(get.text("prompt"), get.text("completion"), get.origin)
    if fmt == "instruction":
        extra = get.optional_text("input")
        prompt = get.text("instruction") + (f"\n\n{extra}" if extra else "")
        return _pair_chat(prompt, get.text("output"), get.origin)
    if fmt == "text":
        return TextRow(get.text("text"), get.origin)
    if fmt == "classification":
        return _label_row(get, spec.labels)
    if fmt == "token_classification":
        return _tag_row(get)
    if fmt == "qa":
        return _qa_row(get)
    return PairRow(
        get.text("source"), get.text("target"), spec.source_lang, spec.target_lang, get.origin
    )


def _detect(record: Record, spec: RowSpec) -> str:
    keys = set(record.fields)
    named = {spec.columns.get(f, f) for f in ("messages",)}
    if named & keys or "conversations" in keys:
        return "chat"
    for fmt in ("prompt_completion", "instruction"):
        required = [f for f in FIELDS[fmt] if f != "input"]
        if all(spec.columns.get(f, f) in keys for f in required):
            return fmt
    raise BadRow(
        record.origin,
        f"row has keys {sorted(keys)}; expected 'messages' (chat), 'prompt' and 'completion', "
        "or 'instruction' and 'output' (or set dataset.format and dataset.columns)",
    )


class _Getter:
    """Fields of one record under the column mapping, with file:line errors."""

    def __init__(self, record: Record, columns: Mapping[str, str]) -> None:
        self.fields, self.columns, self.origin = record.fields, columns, record.origin

    def raw(self, name: str, aliases: tuple[str, ...] = ()) -> Any:
        column = self.columns.get(name, name)
        for key in (column, *aliases):
            if key in self.fields:
                return self.fields[key]
        raise BadRow(
            self.origin,
            f"missing column '{column}' (for {name}); the row has {sorted(self.fields)}"
            + did_you_mean(column, self.fields),
        )

    def text(self, name: str) -> str:
        value = self.raw(name)
        if not isinstance(value, str) or not value.strip():
            raise BadRow(
                self.origin, f"'{self.columns.get(name, name)}' must be a non-empty string"
            )
        return value

    def optional_text(self, name: str) -> str:
        value = self.fields.get(self.columns.get(name, name))
        if value is None or value == "":
            return ""
        if not isinstance(value, str):
            raise BadRow(self.origin, f"'{self.columns.get(name, name)}' must be a string")
        return value

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if isinstance(value, str):  # csv cells: space-separated
            value = value.split()
        if not isinstance(value, list | tuple) or not value:
            raise BadRow(self.origin, f"'{self.columns.get(name, name)}' must be a non-empty list")
        return tuple(str(v) for v in value)


def _pair_chat(prompt: str, answer: str, origin: str) -> ChatRow:
    return ChatRow((("user", prompt), ("assistant", answer)), origin, reference=answer)


def _messages(value: object, origin: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise BadRow(origin, "'messages' must be a non-empty list")
    out: list[tuple[str, str]] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise BadRow(origin, f"messages[{i}] must be an object with role and content")
        role = msg.get("role", msg.get("from"))
        content = msg.get("content", msg.get("value"))
        if not isinstance(role, str) or role not in ROLE_ALIASES:
            raise BadRow(
                origin,
                f"messages[{i}].role='{role}' is not allowed. "
                f"Allowed: {allowed_list(ROLE_ALIASES)}." + did_you_mean(str(role), ROLE_ALIASES),
            )
        if not isinstance(content, str) or not content.strip():
            raise BadRow(origin, f"'messages[{i}].content' must be a non-empty string")
        out.append((ROLE_ALIASES[role], content))
    if not any(role == "assistant" for role, _ in out):
        raise BadRow(origin, "the conversation has no assistant message to learn from")
    return tuple(out)


def _label_row(get: _Getter, labels: tuple[str, ...]) -> LabelRow:
    value = get.raw("label")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        raise BadRow(get.origin, f"'{get.columns.get('label', 'label')}' must be a label name")
    label = str(value).strip()
    if labels and label not in labels:
        if label.isdigit() and int(label) < len(labels):
            label = labels[int(label)]  # an index into dataset.labels
        else:
            raise BadRow(
                get.origin,
                f"unknown label '{label}' (dataset.labels: {', '.join(labels)})"
                + did_you_mean(label, labels),
            )
    return LabelRow(get.text("text"), label, get.origin)


def _tag_row(get: _Getter) -> TagRow:
    tokens, tags = get.strings("tokens"), get.strings("tags")
    if len(tokens) != len(tags):
        raise BadRow(get.origin, f"{len(tokens)} tokens but {len(tags)} tags")
    for i, tag in enumerate(tags):
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise BadRow(get.origin, f"tags[{i}]='{tag}' is not a BIO tag (O, B-X or I-X)")
    return TagRow(tokens, tags, get.origin)


def _qa_row(get: _Getter) -> QARow:
    context, question, raw = get.text("context"), get.text("question"), get.raw("answers")
    if isinstance(raw, dict):  # SQuAD: {"text": [...], "answer_start": [...]}
        pairs = list(zip(raw.get("text") or [], raw.get("answer_start") or [], strict=False))
    elif isinstance(raw, list):
        pairs = [(a.get("text"), a.get("answer_start")) for a in raw if isinstance(a, dict)]
    else:
        pairs = []
    if not pairs:
        raise BadRow(get.origin, "'answers' must hold text and answer_start")
    answers = []
    for text, start in pairs:
        if not isinstance(text, str) or not isinstance(start, int):
            raise BadRow(get.origin, "each answer needs a string text and an int answer_start")
        if context[start : start + len(text)] != text:
            raise BadRow(get.origin, f"answer '{text}' is not in the context at offset {start}")
        answers.append((text, start))
    return QARow(context, question, tuple(answers), get.origin)
