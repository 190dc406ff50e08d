"""generate.py keeps prompts and replies within the model's context: too long a prompt is
refused with the numbers, a reply that would overrun is shortened with a warning."""

from __future__ import annotations

import logging

import pytest

from framework.errors import UserError
from framework.inference.chat import chat_loop
from framework.inference.generate import Sampling, fit_context


def test_a_prompt_longer_than_the_context_is_refused() -> None:
    with pytest.raises(UserError, match="the prompt is 600 tokens and the model's context is 512"):
        fit_context(list(range(600)), Sampling(max_new_tokens=32), 512)


def test_a_reply_that_would_overrun_is_shortened_saying_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        fitted = fit_context(list(range(500)), Sampling(max_new_tokens=32), 512)
    assert fitted.max_new_tokens == 12
    assert "limited to 12 new tokens" in caplog.text
    assert fit_context(list(range(10)), Sampling(max_new_tokens=32), 512).max_new_tokens == 32
    assert fit_context(list(range(10_000)), Sampling(), None).max_new_tokens == 128


class TooLong:
    """A reply engine whose context the chat history outgrows at the second message."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def reply(self, messages: list[dict[str, str]]) -> str:
        self.seen.append(len(messages))
        if len(messages) > 2:
            fit_context(list(range(1000)), Sampling(), 512)
        return "ok"


def test_the_chat_says_so_and_goes_on_when_the_history_outgrows_the_context() -> None:
    lines = iter(["hi", "more", "/reset", "again", "/exit"])
    written: list[str] = []
    engine = TooLong()
    replies = chat_loop(engine, None, read=lambda _: next(lines), write=written.append)
    assert replies == 2
    assert any(w.startswith("error: the prompt is 1000 tokens") for w in written)
    assert engine.seen == [1, 3, 1]
