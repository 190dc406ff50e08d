"""One record's fields under the column mapping: strings, lists and message turns; BadRow
(file:line and why) for anything malformed. The format parsers (framework.data.formats) read
records only through RecordFields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framework.data.readers import Record
from framework.errors import allowed_list, did_you_mean

ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}

Turns = tuple[tuple[str, str], ...]


class BadRow(Exception):
    """A row that cannot be used: where it is and why."""

    def __init__(self, origin: str, reason: str) -> None:
        super().__init__(f"{origin}: {reason}")
        self.origin, self.reason = origin, reason


class RecordFields:
    """Fields of one record under the column mapping, with file:line errors."""

    def __init__(self, record: Record, columns: Mapping[str, str]) -> None:
        self.fields, self.columns, self.origin = record.fields, columns, record.origin

    def raw(self, name: str, aliases: tuple[str, ...] = ()) -> Any:
        column = self.column(name, aliases)
        if column in self.fields:
            return self.fields[column]
        also = "".join(f" or '{a}'" for a in aliases)
        raise BadRow(
            self.origin,
            f"missing column '{column}'{also} (for {name}); the row has {sorted(self.fields)}"
            + did_you_mean(column, self.fields),
        )

    def column(self, name: str, aliases: tuple[str, ...] = ()) -> str:
        """The record's key for field `name`: its mapped column, else the first alias the record
        has, else the mapped column (missing)."""
        column = self.columns.get(name, name)
        present = [key for key in (column, *aliases) if key in self.fields]
        return present[0] if present else column

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


def messages(value: object, origin: str) -> tuple[tuple[str, str], ...]:
    out = turns(value, origin, "messages")
    if not any(role == "assistant" for role, _ in out):
        raise BadRow(origin, "the conversation has no assistant message to learn from")
    return out


def turns(value: object, origin: str, name: str) -> tuple[tuple[str, str], ...]:
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
                f"{name}[{i}].role='{role}' is not allowed. "
                f"Allowed: {allowed_list(ROLE_ALIASES)}." + did_you_mean(str(role), ROLE_ALIASES),
            )
        if not isinstance(content, str) or not content.strip():
            raise BadRow(origin, f"'{name}[{i}].content' must be a non-empty string")
        out.append((ROLE_ALIASES[role], content))
    return tuple(out)


def prompt_turns(get: RecordFields) -> Turns:
    """The conversation before the reply: `messages` (a list), `prompt` (a string or list) or
    OpenAI's preference `input` ({"messages": [...]})."""
    for name in ("messages", "prompt", "input"):
        column = get.columns.get(name, name)
        if column not in get.fields:
            continue
        value = get.fields[column]
        if name == "input":
            return request_turns(value, get.origin, column)
        if isinstance(value, str) and value.strip():
            return (("user", value),)
        if isinstance(value, list):
            return turns(value, get.origin, column)
        raise BadRow(get.origin, f"'{column}' must be a non-empty string or a list of messages")
    return ()


# OpenAI's preference `input`: the messages, and tool settings that must say "no tools".
REQUEST_KEYS = ("messages", "tools", "parallel_tool_calls")


def request_turns(value: object, origin: str, column: str) -> Turns:
    """The messages of OpenAI's preference `input` object; tool definitions are refused (the
    rows are text turns), as is any other key."""
    if not isinstance(value, dict) or "messages" not in value:
        raise BadRow(origin, f"'{column}' must be an object with 'messages' (a list of messages)")
    unknown = sorted(set(value) - set(REQUEST_KEYS))
    if unknown:
        raise BadRow(
            origin, f"'{column}' has keys {unknown}; allowed: {allowed_list(REQUEST_KEYS)}"
        )
    if value.get("tools"):
        raise BadRow(origin, f"'{column}.tools': tool definitions are not supported (text only)")
    if not isinstance(value.get("parallel_tool_calls", True), bool):
        raise BadRow(origin, f"'{column}.parallel_tool_calls' must be true or false")
    return turns(value["messages"], origin, f"{column}.messages")


def reply(get: RecordFields, name: str, aliases: tuple[str, ...] = ()) -> tuple[Turns, str]:
    """(conversation prefix, reply) of a reply column (or an alias): a string, an assistant
    message, or a conversation whose last message is the assistant's reply."""
    column = get.column(name, aliases)
    value = get.raw(name, aliases)
    if isinstance(value, str):
        if not value.strip():
            raise BadRow(get.origin, f"'{column}' must be a non-empty reply")
        return (), value
    conversation = turns([value] if isinstance(value, dict) else value, get.origin, column)
    if conversation[-1][0] != "assistant":
        raise BadRow(get.origin, f"the last message of '{column}' must be the assistant's reply")
    return conversation[:-1], conversation[-1][1]


def check_prompt(prompt: Turns, origin: str) -> Turns:
    if not prompt:
        raise BadRow(origin, "no prompt: give 'prompt' or 'messages' (or conversations as replies)")
    if prompt[-1][0] == "assistant":
        raise BadRow(origin, "the prompt must end with a user turn (the reply follows it)")
    return prompt
