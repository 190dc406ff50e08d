"""Read raw rows (chat messages) from bundled corpora or local files, naming file:line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from framework.errors import UserError, allowed_list, did_you_mean
from framework.models.source import package_dir

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}


@dataclass(frozen=True)
class ChatRow:
    """One conversation, as a list of {role, content}, and where it came from."""

    messages: tuple[tuple[str, str], ...]
    origin: str  # file:line


def chatterbot_files(categories: list[str]) -> list[Path]:
    """The English topic files of chatterbot-corpus; all of them when categories is empty."""
    folder = package_dir("chatterbot_corpus") / "data" / "english"
    available = {p.stem: p for p in sorted(folder.glob("*.yml"))}
    for cat in categories:
        if cat not in available:
            raise UserError(
                f"dataset.categories: '{cat}' is not a chatterbot topic. "
                f"Allowed: {allowed_list(available)}." + did_you_mean(cat, available)
            )
    return [available[c] for c in categories or list(available)]


def chatterbot_rows(categories: list[str]) -> list[ChatRow]:
    """Prompt/response pairs from the English chatterbot-corpus (BSD-3-Clause)."""
    import yaml

    rows: list[ChatRow] = []
    for path in chatterbot_files(categories):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for index, conversation in enumerate(data.get("conversations") or []):
            turns = [str(t).strip() for t in conversation if str(t).strip()]
            for a, b in zip(turns, turns[1:], strict=False):
                rows.append(ChatRow((("user", a), ("assistant", b)), f"{path}#{index}"))
    return rows


def jsonl_rows(path: str) -> list[ChatRow]:
    """Rows of a .jsonl file in chat `messages` or `prompt`/`completion` form."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"dataset.path='{path}': no such file")
    rows = [_parse_line(line, f"{file}:{number}") for number, line in _lines(file)]
    if not rows:
        raise UserError(f"dataset.path='{path}': the file has no rows")
    return rows


def _lines(file: Path) -> Iterator[tuple[int, str]]:
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield number, line


def _parse_line(line: str, origin: str) -> ChatRow:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{origin}: malformed JSON ({error.msg})") from None
    if not isinstance(obj, dict):
        raise UserError(f"{origin}: a row must be a JSON object, got {type(obj).__name__}")
    if "messages" in obj or "conversations" in obj:
        return ChatRow(_messages(obj.get("messages", obj.get("conversations")), origin), origin)
    if "prompt" in obj and "completion" in obj:
        return ChatRow(
            (
                ("user", _text(obj["prompt"], origin, "prompt")),
                ("assistant", _text(obj["completion"], origin, "completion")),
            ),
            origin,
        )
    raise UserError(
        f"{origin}: row has keys {sorted(obj)}; expected 'messages' (chat) "
        "or 'prompt' and 'completion'"
    )


def _text(value: object, origin: str, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{origin}: '{key}' must be a non-empty string")
    return value


def _messages(value: object, origin: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise UserError(f"{origin}: 'messages' must be a non-empty list")
    out: list[tuple[str, str]] = []
    for i, msg in enumerate(value):
        if not isinstance(msg, dict):
            raise UserError(f"{origin}: messages[{i}] must be an object with role and content")
        role = msg.get("role", msg.get("from"))
        content = msg.get("content", msg.get("value"))
        if role not in ROLE_ALIASES:
            raise UserError(
                f"{origin}: messages[{i}].role='{role}' is not allowed. "
                f"Allowed: {allowed_list(ROLE_ALIASES)}." + did_you_mean(str(role), ROLE_ALIASES)
            )
        out.append((ROLE_ALIASES[role], _text(content, origin, f"messages[{i}].content")))
    if not any(role == "assistant" for role, _ in out):
        raise UserError(f"{origin}: the conversation has no assistant message to learn from")
    return tuple(out)
