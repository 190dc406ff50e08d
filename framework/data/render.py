"""Render conversations with the tokenizer's chat template; mask everything but answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from framework.data.rows import ChatRow

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Encoded:
    """Token ids and labels (IGNORE_INDEX where no loss is taken)."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool
    position_ids: list[int] | None = None  # set on packed sequences (restart per example)


def segments(row: ChatRow, tokenizer: Any, system_prompt: str | None) -> list[tuple[str, bool]]:
    """Split a rendered conversation into (text, is_assistant_answer) pieces."""
    messages = [{"role": r, "content": c} for r, c in row.messages]
    if system_prompt and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system_prompt})
    if tokenizer.chat_template is None:
        return _plain_segments(messages, tokenizer.eos_token or "")
    pieces: list[tuple[str, bool]] = []
    rendered = ""
    for i, msg in enumerate(messages):
        if msg["role"] == "assistant":
            prompt = _render(tokenizer, messages[:i], generation_prompt=True)
            pieces.append((prompt[len(rendered) :], False))
            rendered = prompt
        full = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not full.startswith(rendered):
            raise ValueError(f"{row.origin}: the chat template does not render incrementally")
        pieces.append((full[len(rendered) :], msg["role"] == "assistant"))
        rendered = full
    return [(text, answer) for text, answer in pieces if text]


def _render(tokenizer: Any, messages: list[dict[str, str]], generation_prompt: bool) -> str:
    if not messages:
        return ""
    return str(
        tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=generation_prompt
        )
    )


def _plain_segments(messages: list[dict[str, str]], eos: str) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for msg in messages:
        if msg["role"] == "assistant":
            out.append((msg["content"] + eos, True))
        else:
            out.append((msg["content"] + "\n", False))
    return out


def encode(
    pieces: list[tuple[str, bool]], tokenizer: Any, max_length: int, train_on_prompt: bool
) -> Encoded:
    """Tokenize pieces without extra special tokens; truncate to max_length."""
    ids: list[int] = []
    labels: list[int] = []
    for text, answer in pieces:
        piece_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids.extend(piece_ids)
        labels.extend(piece_ids if (answer or train_on_prompt) else [IGNORE_INDEX] * len(piece_ids))
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length], truncated)
