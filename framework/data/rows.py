"""Typed rows, one per format, each remembering where it came from (file:line)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChatRow:
    """One conversation, as a list of (role, content), and where it came from."""

    messages: tuple[tuple[str, str], ...]
    origin: str  # file:line
    reference: str = ""  # the expected answer, for generation metrics (BLEU, exact match)


@dataclass(frozen=True)
class TextRow:
    """Raw text for domain adaptation (language modelling on every token)."""

    text: str
    origin: str


@dataclass(frozen=True)
class LabelRow:
    """A text and its class label (sequence classification)."""

    text: str
    label: str
    origin: str


@dataclass(frozen=True)
class TagRow:
    """Words and their BIO tags (token classification)."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    origin: str


@dataclass(frozen=True)
class QARow:
    """Extractive QA: a context, a question and answer spans (text, character start)."""

    context: str
    question: str
    answers: tuple[tuple[str, int], ...]
    origin: str


@dataclass(frozen=True)
class PairRow:
    """A translation pair and its languages."""

    source: str
    target: str
    source_lang: str
    target_lang: str
    origin: str


@dataclass(frozen=True)
class PreferenceRow:
    """A conversation so far (ending with a user turn) and two replies: preferred, dispreferred."""

    prompt: tuple[tuple[str, str], ...]  # (role, content), the shared conversation prefix
    chosen: str
    rejected: str
    origin: str


@dataclass(frozen=True)
class KTORow:
    """A conversation so far and one reply, labelled desirable (True) or undesirable (False)."""

    prompt: tuple[tuple[str, str], ...]
    completion: str
    desirable: bool
    origin: str


Row = ChatRow | TextRow | LabelRow | TagRow | QARow | PairRow | PreferenceRow | KTORow
