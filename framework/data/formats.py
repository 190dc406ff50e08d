"""Turn a raw record into a typed row by format, with a column mapping; bad rows say why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from framework.data.fields import (
    BadRow,
    RecordFields,
    check_prompt,
    messages,
    prompt_turns,
    reply,
)
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

AUTO_DETECTED = ("chat", "prompt_completion", "instruction")  # format=auto tries these, in order
OPTIONAL_FIELDS = ("input",)  # fields a row may leave out
# The replies of a preference pair and the other names they go by: OpenAI's preference layout
# ({"input": {"messages": [...]}, "preferred_output": [...], "non_preferred_output": [...]}).
PREFERENCE_ALIASES: dict[str, tuple[str, ...]] = {
    "chosen": ("preferred_output",),
    "rejected": ("non_preferred_output",),
}


@dataclass(frozen=True)
class FormatSpec:
    """One dataset format: its fields, its parser and how generated answers are scored."""

    name: str
    fields: tuple[str, ...]  # canonical fields, each mappable by dataset.columns.<field>
    parse: Callable[[RecordFields, RowSpec], Row]
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


def holds_pairs(record: Record) -> bool:
    """Whether a record is a preference pair by its keys (a chosen and a rejected reply under
    their own names or OpenAI's): how a file without a declared format is told apart."""
    return all(
        any(key in record.fields for key in (name, *aliases))
        for name, aliases in PREFERENCE_ALIASES.items()
    )


def parse(record: Record, spec: RowSpec) -> Row:
    """The typed row of a record; BadRow when it is malformed or misses a column."""
    if record.problem:
        raise BadRow(record.origin, record.problem)
    if spec.format not in DATA_FORMATS:
        raise UserError(
            f"dataset.format='{spec.format}' is not allowed. Allowed: {allowed_list(FORMAT_NAMES)}."
            + did_you_mean(spec.format, FORMAT_NAMES)
        )
    return DATA_FORMATS[spec.format].parse(RecordFields(record, spec.columns), spec)


def _parse_detected(get: RecordFields, spec: RowSpec) -> Row:
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


def _chat(get: RecordFields, spec: RowSpec) -> ChatRow:
    return ChatRow(messages(get.raw("messages", ("conversations",)), get.origin), get.origin)


def _prompt_completion(get: RecordFields, spec: RowSpec) -> ChatRow:
    return _pair_chat(get.text("prompt"), get.text("completion"), get.origin)


def _instruction(get: RecordFields, spec: RowSpec) -> ChatRow:
    extra = get.optional_text("input")
    prompt = get.text("instruction") + (f"\n\n{extra}" if extra else "")
    return _pair_chat(prompt, get.text("output"), get.origin)


def _text(get: RecordFields, spec: RowSpec) -> TextRow:
    return TextRow(get.text("text"), get.origin)


def _translation(get: RecordFields, spec: RowSpec) -> PairRow:
    return PairRow(
        get.text("source"), get.text("target"), spec.source_lang, spec.target_lang, get.origin
    )


def _pair_chat(prompt: str, answer: str, origin: str) -> ChatRow:
    return ChatRow((("user", prompt), ("assistant", answer)), origin, reference=answer)


def _preference(get: RecordFields, spec: RowSpec) -> PreferenceRow:
    prompt = prompt_turns(get)
    chosen_prefix, chosen = reply(get, "chosen", PREFERENCE_ALIASES["chosen"])
    rejected_prefix, rejected = reply(get, "rejected", PREFERENCE_ALIASES["rejected"])
    names = " and ".join(f"'{get.column(f, PREFERENCE_ALIASES[f])}'" for f in PREFERENCE_ALIASES)
    if chosen_prefix != rejected_prefix:
        raise BadRow(get.origin, f"{names} must share the same conversation prefix")
    if chosen.strip() == rejected.strip():
        raise BadRow(get.origin, f"{names} are the same reply (nothing to prefer)")
    return PreferenceRow(
        check_prompt(prompt + chosen_prefix, get.origin), chosen, rejected, get.origin
    )


def _kto(get: RecordFields, spec: RowSpec) -> KTORow:
    prompt = prompt_turns(get)
    prefix, completion = reply(get, "completion")
    column = get.columns.get("label", "label")
    label = get.raw("label")
    if isinstance(label, str) and label.strip().lower() in ("true", "false"):
        label = label.strip().lower() == "true"  # csv cells
    if not isinstance(label, bool):
        raise BadRow(
            get.origin, f"'{column}'={label!r} must be a boolean (true: desirable, false: not)"
        )
    return KTORow(check_prompt(prompt + prefix, get.origin), completion, label, get.origin)


def _label_row(get: RecordFields, spec: RowSpec) -> LabelRow:
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


def _tag_row(get: RecordFields, spec: RowSpec) -> TagRow:
    tokens, tags = get.strings("tokens"), get.strings("tags")
    if len(tokens) != len(tags):
        raise BadRow(get.origin, f"{len(tokens)} tokens but {len(tags)} tags")
    for i, tag in enumerate(tags):
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise BadRow(get.origin, f"tags[{i}]='{tag}' is not a BIO tag (O, B-X or I-X)")
    return TagRow(tokens, tags, get.origin)


def _qa_row(get: RecordFields, spec: RowSpec) -> QARow:
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
        FormatSpec(
            "preference", ("prompt", "messages", "input", "chosen", "rejected"), _preference, ""
        ),
        FormatSpec("kto", ("prompt", "messages", "completion", "label"), _kto, scorer=""),
    )
}
FORMAT_NAMES = tuple(DATA_FORMATS)
# Every format's fields, once each: what dataset.columns.<field> may map.
COLUMN_FIELDS = tuple(dict.fromkeys(f for spec in DATA_FORMATS.values() for f in spec.fields))
