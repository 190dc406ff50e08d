"""Turn a raw record into a typed row by format, with a column mapping; bad rows say why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from framework.data.readers import Record
from framework.data.rows import (
    ChatRow,
    KTORow,
    LabelRow,
    PairRow,
    PreferenceRow,
    QARow,
    Row,
    TagRow,
    TextRow,
)
from framework.errors import UserError, allowed_list, did_you_mean

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}
AUTO_DETECTED = ("chat", "prompt_completion", "instruction")  # format=auto tries these, in order
OPTIONAL_FIELDS = ("input",)  # fields a row may leave out


class BadRow(Exception):
    """A row that cannot be used: where it is and why."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin, self.reason = origin, reason


@dataclass(frozen=True)
class FormatSpec:
    """One dataset format: its fields, its parser and how generated answers are scored."""

    name: str
    fields: tuple[str, ...]  # canonical fields, each mappable by dataset.columns.<field>
    parse: Callable[[_Getter, RowSpec], Row]
    # Generation metrics of task=causal_lm (framework.tasks.generation.SCORE_KINDS): "answer"
    # (exact match, F1), "translation" (BLEU, chrF), "unscored" (samples only), "" (no prompt to
    # generate from).
    scorer: str


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
    if spec.format not in DATA_FORMATS:
        raise UserError(
            f"dataset.format='{spec.format}' is not allowed. Allowed: {allowed_list(FORMAT_NAMES)}."
            + did_you_mean(spec.format, FORMAT_NAMES)
        )
    return DATA_FORMATS[spec.format].parse(_Getter(record, spec.columns), spec)


def _parse_detected(get: _Getter, spec: RowSpec) -> Row:
    """format=auto: chat, prompt_completion or instruction, by the row's keys."""
    keys = set(get.fields)
    for fmt in AUTO_DETECTED:
        required = [f for f in DATA_FORMATS[fmt].fields if f not in OPTIONAL_FIELDS]
        if all(spec.columns.get(f, f) in keys for f in required) or (
            fmt == "chat" and "conversations" in keys
        ):
            return DATA_FORMATS[fmt].parse(get, spec)
    raise BadRow(
        get.origin,
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


def _chat(get: _Getter, spec: RowSpec) -> ChatRow:
    return ChatRow(_messages(get.raw("messages", ("conversations",)), get.origin), get.origin)


def _prompt_completion(get: _Getter, spec: RowSpec) -> ChatRow:
    return _pair_chat(get.text("prompt"), get.text("completion"), get.origin)


def _instruction(get: _Getter, spec: RowSpec) -> ChatRow:
    extra = get.optional_text("input")
    prompt = get.text("instruction") + (f"\n\n{extra}" if extra else "")
    return _pair_chat(prompt, get.text("output"), get.origin)


def _text(get: _Getter, spec: RowSpec) -> TextRow:
    return TextRow(get.text("text"), get.origin)


def _translation(get: _Getter, spec: RowSpec) -> PairRow:
    return PairRow(
        get.text("source"), get.text("target"), spec.source_lang, spec.target_lang, get.origin
    )


def _pair_chat(prompt: str, answer: str, origin: str) -> ChatRow:
    return ChatRow((("user", prompt), ("assistant", answer)), origin, reference=answer)


def _messages(value: object, origin: str) -> tuple[tuple[str, str], ...]:
    out = _turns(value, origin, "messages")
    if not any(role == "assistant" for role, _ in out):
        raise BadRow(origin, "the conversation has no assistant message to learn from")
    return out


def _turns(value: object, origin: str, name: str) -> tuple[tuple[str, str], ...]:
    """(role, content) of a non-empty list of messages (column `name`)."""
    if not isinstance(value, list) or not value:
        raise BadRow(origin, f"'{name}' must be a non-empty list")
    out: list[tuple[str, str]] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise BadRow(origin, f"{name}[{i}] must be an object with role and content")
        role = msg.get("role", msg.get("from"))
        content = msg.get("content", msg.get("value"))
        if not isinstance(role, str) or role not in ROLE_ALIASES:
            raise BadRow(
                origin,
                f"messages[{i}].role='{role}' is not allowed. "
                f"Allowed: {allowed_list(ROLE_ALIASES)}." + did_you_mean(str(role), ROLE_ALIASES),
            )
        if not isinstance(content, str) or not content.strip():
            raise BadRow(origin, f"'{name}[{i}].content' must be a non-empty string")
        out.append((ROLE_ALIASES[role], content))
    return tuple(out)


Turns = tuple[tuple[str, str], ...]


def _prompt_turns(get: _Getter) -> Turns:
    """The conversation before the reply: `messages` (a list) or `prompt` (a string or list)."""
    for name in ("messages", "prompt"):
        column = get.columns.get(name, name)
        if column not in get.fields:
            continue
        value = get.fields[column]
        if isinstance(value, str) and value.strip():
            return (("user", value),)
        if isinstance(value, list):
            return _turns(value, get.origin, column)
        raise BadRow(get.origin, f"'{column}' must be a non-empty string or a list of messages")
    return ()


def _reply(get: _Getter, name: str) -> tuple[Turns, str]:
    """(conversation prefix, reply) of a reply column: a string, an assistant message, or a
    conversation whose last message is the assistant's reply."""
    column = get.columns.get(name, name)
    value = get.raw(name)
    if isinstance(value, str):
        if not value.strip():
            raise BadRow(get.origin, f"'{column}' must be a non-empty reply")
        return (), value
    turns = _turns([value] if isinstance(value, dict) else value, get.origin, column)
    if turns[-1][0] != "assistant":
        raise BadRow(get.origin, f"the last message of '{column}' must be the assistant's reply")
    return turns[:-1], turns[-1][1]


def _check_prompt(prompt: Turns, origin: str) -> Turns:
    if not prompt:
        raise BadRow(origin, "no prompt: give 'prompt' or 'messages' (or conversations as replies)")
    if prompt[-1][0] == "assistant":
        raise BadRow(origin, "the prompt must end with a user turn (the reply follows it)")
    return prompt


def _preference(get: _Getter, spec: RowSpec) -> PreferenceRow:
    prompt = _prompt_turns(get)
    chosen_prefix, chosen = _reply(get, "chosen")
    rejected_prefix, rejected = _reply(get, "rejected")
    if chosen_prefix != rejected_prefix:
        raise BadRow(get.origin, "'chosen' and 'rejected' must share the same conversation prefix")
    if chosen.strip() == rejected.strip():
        raise BadRow(get.origin, "'chosen' and 'rejected' are the same reply (nothing to prefer)")
    return PreferenceRow(
        _check_prompt(prompt + chosen_prefix, get.origin), chosen, rejected, get.origin
    )


def _kto(get: _Getter, spec: RowSpec) -> KTORow:
    prompt = _prompt_turns(get)
    prefix, completion = _reply(get, "completion")
    column = get.columns.get("label", "label")
    label = get.raw("label")
    if isinstance(label, str) and label.strip().lower() in ("true", "false"):
        label = label.strip().lower() == "true"  # csv cells
    if not isinstance(label, bool):
        raise BadRow(
            get.origin, f"'{column}'={label!r} must be a boolean (true: desirable, false: not)"
        )
    return KTORow(_check_prompt(prompt + prefix, get.origin), completion, label, get.origin)


def _label_row(get: _Getter, spec: RowSpec) -> LabelRow:
    labels = spec.labels
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


def _tag_row(get: _Getter, spec: RowSpec) -> TagRow:
    tokens, tags = get.strings("tokens"), get.strings("tags")
    if len(tokens) != len(tags):
        raise BadRow(get.origin, f"{len(tokens)} tokens but {len(tags)} tags")
    for i, tag in enumerate(tags):
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise BadRow(get.origin, f"tags[{i}]='{tag}' is not a BIO tag (O, B-X or I-X)")
    return TagRow(tokens, tags, get.origin)


def _qa_row(get: _Getter, spec: RowSpec) -> QARow:
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


# The dataset formats, in the order config choices list them. Adding one: a row class in
# framework.data.rows, a parser here, a pairing in framework.tasks.registry (the tasks that
# learn from it); tests/test_single_source.py checks the pieces.
DATA_FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("auto", (), _parse_detected, scorer="answer"),
        FormatSpec("chat", ("messages",), _chat, scorer="unscored"),
        FormatSpec("instruction", ("instruction", "input", "output"), _instruction, "answer"),
        FormatSpec("prompt_completion", ("prompt", "completion"), _prompt_completion, "answer"),
        FormatSpec("text", ("text",), _text, scorer=""),
        FormatSpec("classification", ("text", "label"), _label_row, scorer="answer"),
        FormatSpec("token_classification", ("tokens", "tags"), _tag_row, scorer=""),
        FormatSpec("qa", ("context", "question", "answers"), _qa_row, scorer="answer"),
        FormatSpec("translation", ("source", "target"), _translation, scorer="translation"),
        FormatSpec("preference", ("prompt", "messages", "chosen", "rejected"), _preference, ""),
        FormatSpec("kto", ("prompt", "messages", "completion", "label"), _kto, scorer=""),
    )
}
FORMAT_NAMES = tuple(DATA_FORMATS)
# Every format's fields, once each: what dataset.columns.<field> may map.
COLUMN_FIELDS = tuple(dict.fromkeys(f for spec in DATA_FORMATS.values() for f in spec.fields))
