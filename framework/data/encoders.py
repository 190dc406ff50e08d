"""Per-task encoders: rows -> token ids and targets (framework.data.collate pads batches)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from framework.data.collate import pad_batch
from framework.data.packing import pack, padding_ratio
from framework.data.render import IGNORE_INDEX, Encoded, chat_examples, encode_pieces
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
from framework.errors import UserError


@dataclass
class EncodeStats:
    """Counts reported after tokenization (logged and written to metrics.json)."""

    rows: int = 0
    truncated: int = 0
    dropped_no_answer: int = 0
    tokens: int = 0
    answer_tokens: int = 0
    sequences: int = 0  # after packing (equal to kept rows without packing)
    padding_ratio: float = 0.0  # pad share of batches as trained
    padding_ratio_unpacked: float = 0.0  # pad share without packing (same rows, same batch)


def as_chat(row: Row) -> ChatRow:
    """A row of any supervised format rendered as a one-turn conversation (generative tasks)."""
    if isinstance(row, ChatRow):
        return row
    if isinstance(row, LabelRow):
        return ChatRow((("user", row.text), ("assistant", row.label)), row.origin, row.label)
    if isinstance(row, PairRow):
        pair = " to ".join(x for x in (row.source_lang, row.target_lang) if x) or "the target"
        prompt = f"Translate {'from ' if row.source_lang else ''}{pair}: {row.source}"
        return ChatRow((("user", prompt), ("assistant", row.target)), row.origin, row.target)
    if isinstance(row, PreferenceRow):  # the prompt and the chosen reply (render checks)
        return ChatRow((*row.prompt, ("assistant", row.chosen)), row.origin, row.chosen)
    if isinstance(row, KTORow):
        return ChatRow((*row.prompt, ("assistant", row.completion)), row.origin, row.completion)
    if isinstance(row, QARow):
        prompt = f"{row.context}\n\nQuestion: {row.question}"
        answer = row.answers[0][0]
        return ChatRow((("user", prompt), ("assistant", answer)), row.origin, answer)
    raise UserError(f"{row.origin}: a {type(row).__name__} cannot be rendered as a conversation")


class CausalEncoder:
    """Chat template rendering with prompt masking; raw text in blocks; optional packing."""

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        train_on_prompt: bool,
        system_prompt: str | None,
        packing: bool,
        batch_size: int,
        train_on: str = "all",
    ) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.train_on_prompt, self.system_prompt = train_on_prompt, system_prompt
        self.packing, self.batch_size = packing, batch_size
        self.train_on = train_on  # all: every assistant turn | last_turn: only the final reply

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[Encoded]:
        out: list[Encoded] = []
        for row in rows:
            stats.rows += 1
            for enc in self._encode_row(row):
                stats.truncated += int(enc.truncated)
                answer = sum(1 for t in enc.labels if t != IGNORE_INDEX)
                if answer == 0:
                    stats.dropped_no_answer += 1
                    continue
                stats.tokens += len(enc.input_ids)
                stats.answer_tokens += answer
                out.append(enc)
        if self.packing:
            out = pack(out, self.max_length)
        stats.sequences = len(out)
        stats.padding_ratio = padding_ratio([len(e.input_ids) for e in out], self.batch_size)
        stats.padding_ratio_unpacked = padding_ratio(
            [len(e.input_ids) for e in self._unpacked(out)], self.batch_size
        )
        return out

    @staticmethod
    def _unpacked(examples: list[Encoded]) -> list[Encoded]:
        """The examples inside packed sequences (for the padding ratio without packing)."""
        out: list[Encoded] = []
        for e in examples:
            if e.position_ids is None:
                out.append(e)
                continue
            starts = [i for i, p in enumerate(e.position_ids) if p == 0] + [len(e.input_ids)]
            for a, b in zip(starts, starts[1:], strict=False):
                out.append(Encoded(e.input_ids[a:b], e.labels[a:b], False))
        return out

    def _encode_row(self, row: Row) -> list[Encoded]:
        if isinstance(row, TextRow):
            return self._text_blocks(row.text)
        examples = chat_examples(as_chat(row), self.tokenizer, self.system_prompt, self.train_on)
        return [encode_pieces(p, self.max_length, self.train_on_prompt) for p in examples]

    def _text_blocks(self, text: str) -> list[Encoded]:
        """Raw text plus EOS, cut into max_length blocks; loss on every token."""
        ids = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        n = self.max_length
        return [Encoded(ids[i : i + n], ids[i : i + n], False) for i in range(0, len(ids), n)]

    def collate(self, batch: list[Encoded]) -> dict[str, torch.Tensor]:
        return pad_batch(batch, int(self.tokenizer.pad_token_id))


@dataclass(frozen=True)
class Classified:
    """Token ids of one text and its class index."""

    input_ids: list[int]
    label: int
    truncated: bool
    position_ids: None = None


class LabelEncoder:
    """Sequence classification: the tokenizer's own special tokens, one label per row."""

    def __init__(self, tokenizer: Any, max_length: int, labels: Sequence[str]) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.label_ids = {label: i for i, label in enumerate(labels)}

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[Classified]:
        out = []
        for row in rows:
            if not isinstance(row, LabelRow):
                raise UserError(f"{row.origin}: task seq_cls needs classification rows")
            ids = list(self.tokenizer(row.text, add_special_tokens=True)["input_ids"])
            stats.rows += 1
            stats.truncated += int(len(ids) > self.max_length)
            ids = ids[: self.max_length]
            stats.tokens += len(ids)
            out.append(Classified(ids, self.label_ids[row.label], False))
        stats.sequences = len(out)
        return out

    def collate(self, batch: list[Classified]) -> dict[str, torch.Tensor]:
        rows = [Encoded(b.input_ids, [IGNORE_INDEX] * len(b.input_ids), b.truncated) for b in batch]
        padded = pad_batch(rows, int(self.tokenizer.pad_token_id))
        padded["labels"] = torch.tensor([b.label for b in batch], dtype=torch.long)
        padded["label_count"] = len(batch)
        return padded


class TagEncoder:
    """Token classification: each word's tag on its first sub-token, the rest ignored."""

    def __init__(self, tokenizer: Any, max_length: int, tags: Sequence[str]) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.tag_ids = {tag: i for i, tag in enumerate(tags)}

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[Encoded]:
        out = []
        for row in rows:
            if not isinstance(row, TagRow):
                raise UserError(f"{row.origin}: task token_cls needs token_classification rows")
            enc = self.tokenizer(list(row.tokens), is_split_into_words=True)
            ids = list(enc["input_ids"])
            labels, previous = [], None
            for word in enc.word_ids():
                first = word is not None and word != previous
                labels.append(self.tag_ids[row.tags[word]] if first else IGNORE_INDEX)
                previous = word
            stats.rows += 1
            stats.truncated += int(len(ids) > self.max_length)
            stats.tokens += min(len(ids), self.max_length)
            out.append(Encoded(ids[: self.max_length], labels[: self.max_length], False))
        stats.sequences = len(out)
        return out

    def collate(self, batch: list[Encoded]) -> dict[str, torch.Tensor]:
        return pad_batch(batch, int(self.tokenizer.pad_token_id))


@dataclass(frozen=True)
class Span:
    """An extractive-QA example: question+context ids, the answer's token span, offsets."""

    input_ids: list[int]
    token_type_ids: list[int]
    start: int  # 0 (the first token) when the answer was truncated away
    end: int
    offsets: list[tuple[int, int] | None] = field(default_factory=list)  # context tokens only
    context: str = ""
    answers: tuple[str, ...] = ()
    truncated: bool = False
    position_ids: None = None


class SpanEncoder:
    """Extractive QA: the question then the context, truncating only the context."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.token_types = "token_type_ids" in tokenizer("a", "b")  # BERT: yes; Llama: no

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[Span]:
        out = []
        for row in rows:
            if not isinstance(row, QARow):
                raise UserError(f"{row.origin}: task qa needs qa rows")
            out.append(self._span(row, stats))
        stats.sequences = len(out)
        return out

    def _span(self, row: QARow, stats: EncodeStats) -> Span:
        enc = self.tokenizer(
            row.question,
            row.context,
            truncation="only_second",
            max_length=self.max_length,
            return_offsets_mapping=True,
        )
        sequence_ids = enc.sequence_ids()
        offsets = [
            tuple(o) if s == 1 else None
            for o, s in zip(enc["offset_mapping"], sequence_ids, strict=True)
        ]
        text, begin = row.answers[0]
        finish = begin + len(text)
        start = end = 0
        for i, span in enumerate(offsets):
            if span is None:
                continue
            if span[0] <= begin < span[1] and start == 0:
                start = i
            if span[0] < finish <= span[1]:
                end = i
        truncated = start == 0 or end < start
        if truncated:
            start = end = 0
        stats.rows += 1
        stats.truncated += int(truncated)
        stats.tokens += len(enc["input_ids"])
        types = enc.get("token_type_ids") or [int(s == 1) for s in sequence_ids]
        return Span(
            list(enc["input_ids"]),
            list(types),
            start,
            end,
            offsets,  # type: ignore[arg-type]
            row.context,
            tuple(a for a, _ in row.answers),
            truncated,
        )

    def collate(self, batch: list[Span]) -> dict[str, Any]:
        """Tensors, plus the contexts, offsets and answers (lists) for exact match and F1."""
        rows = [Encoded(b.input_ids, b.token_type_ids, False) for b in batch]
        padded: dict[str, Any] = pad_batch(rows, int(self.tokenizer.pad_token_id))
        types = padded.pop("labels").clamp(min=0)
        padded["label_count"] = 0  # span heads: start/end positions, no token labels
        if self.token_types:
            padded["token_type_ids"] = types
        padded["start_positions"] = torch.tensor([b.start for b in batch], dtype=torch.long)
        padded["end_positions"] = torch.tensor([b.end for b in batch], dtype=torch.long)
        padded["offsets"] = [b.offsets for b in batch]
        padded["contexts"] = [b.context for b in batch]
        padded["answers"] = [b.answers for b in batch]
        return padded
