"""The preference tasks' encoder: prompt + chosen + rejected (or a KTO row) rendered with the
chat template as in SFT, both replies of a pair in one batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from framework.data.collate import pad_batch
from framework.data.encoders import EncodeStats
from framework.data.packing import padding_ratio
from framework.data.render import IGNORE_INDEX, Encoded, chat_examples
from framework.data.rows import (
    ChatRow,
    KTORow,
    PreferenceRow,
    Row,
)
from framework.errors import UserError


@dataclass(frozen=True)
class PreferenceExample:
    """Prompt ids and two replies' ids: (chosen, rejected) of a pair, or for KTO (the reply,
    another row's reply: the mismatched pair that estimates the KL reference point)."""

    prompt_ids: list[int]
    replies: tuple[list[int], list[int]]
    uid: int  # content key of the example (reference log-probabilities are stored by it)
    desirable: bool = True  # KTO: the reply's label
    truncated: bool = False
    position_ids: None = None


class PreferenceEncoder:
    """Preference rows through the SFT chat rendering: the prompt is exactly what inference
    renders (add_generation_prompt=True), each reply is trained as the template writes it plus
    its end-of-turn marker (framework.data.render.chat_examples). kto=True: one reply per row
    (pairs are split into a desirable and an undesirable row)."""

    def __init__(
        self,
        tokenizer: Any,
        max_length: int,
        system_prompt: str | None,
        batch_size: int,
        kto: bool = False,
    ) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length
        self.system_prompt, self.batch_size, self.kto = system_prompt, batch_size, kto

    def _render(
        self, prompt: tuple[tuple[str, str], ...], reply: str, origin: str
    ) -> tuple[list[int], list[int]]:
        row = ChatRow((*prompt, ("assistant", reply)), origin)
        pieces = chat_examples(row, self.tokenizer, self.system_prompt, "last_turn")[-1]
        prompt_ids = [t for ids, answer in pieces if not answer for t in ids]
        reply_ids = [t for ids, answer in pieces if answer for t in ids]
        return prompt_ids, reply_ids

    def _replies(self, row: Row) -> list[tuple[tuple[tuple[str, str], ...], str, bool]]:
        if isinstance(row, PreferenceRow):
            return [(row.prompt, row.chosen, True), (row.prompt, row.rejected, False)]
        if isinstance(row, KTORow):
            return [(row.prompt, row.completion, row.desirable)]
        raise UserError(f"{row.origin}: preference tasks need preference or kto rows")

    def encode(self, rows: list[Row], stats: EncodeStats) -> list[PreferenceExample]:
        # (prompt ids, [(reply ids, desirable)], truncated) per row
        encoded: list[tuple[list[int], list[tuple[list[int], bool]], bool]] = []
        for row in rows:
            stats.rows += 1
            prompt_ids: list[int] | None = None
            replies: list[tuple[list[int], bool]] = []
            for prompt, reply, good in self._replies(row):
                ids, reply_ids = self._render(prompt, reply, row.origin)
                if prompt_ids is not None and ids != prompt_ids:
                    raise UserError(f"{row.origin}: the two replies render different prompts")
                prompt_ids = ids
                replies.append((reply_ids, good))
            assert prompt_ids is not None
            room = self.max_length - len(prompt_ids)
            if room <= 0:
                stats.truncated += 1
                stats.dropped_no_answer += 1
                continue
            truncated = any(len(r) > room for r, _ in replies)
            stats.truncated += int(truncated)
            replies = [(r[:room], good) for r, good in replies]
            stats.tokens += sum(len(prompt_ids) + len(r) for r, _ in replies)
            stats.answer_tokens += sum(len(r) for r, _ in replies)
            encoded.append((prompt_ids, replies, truncated))
        out = self._kto(encoded) if self.kto else self._pairs(encoded)
        stats.sequences = len(out)
        lengths = [len(e.prompt_ids) + len(r) for e in out for r in e.replies]
        stats.padding_ratio = stats.padding_ratio_unpacked = padding_ratio(
            lengths, 2 * self.batch_size
        )
        return out

    @staticmethod
    def _pairs(encoded: list[Any]) -> list[PreferenceExample]:
        out = []
        for prompt_ids, replies, truncated in encoded:
            (chosen, _), (rejected, _) = replies
            uid = hash((tuple(prompt_ids), tuple(chosen), tuple(rejected)))
            out.append(PreferenceExample(prompt_ids, (chosen, rejected), uid, True, truncated))
        return out

    def _kto(self, encoded: list[Any]) -> list[PreferenceExample]:
        flat = [(p, r, good, t) for p, replies, t in encoded for r, good in replies]
        out = []
        for i, (prompt_ids, reply, good, truncated) in enumerate(flat):
            # The next row's reply to this prompt (another prompt's reply when pairs were split).
            other = next(
                (
                    flat[(i + k) % len(flat)][1]
                    for k in range(1, len(flat))
                    if flat[(i + k) % len(flat)][0] != prompt_ids
                ),
                flat[(i + 1) % len(flat)][1],
            )
            other = other[: max(1, self.max_length - len(prompt_ids))]
            uid = hash((tuple(prompt_ids), tuple(reply), tuple(other), good))
            out.append(PreferenceExample(prompt_ids, (reply, other), uid, good, truncated))
        return out

    def collate(self, batch: list[PreferenceExample]) -> dict[str, torch.Tensor]:
        """2B sequences: every example's first reply, then every example's second one."""
        rows = [
            Encoded(
                e.prompt_ids + e.replies[k],
                [IGNORE_INDEX] * len(e.prompt_ids) + e.replies[k],
                False,
            )
            for k in (0, 1)
            for e in batch
        ]
        extra = {
            "uid": torch.tensor([e.uid for e in batch], dtype=torch.long),
            "desirable": torch.tensor([e.desirable for e in batch], dtype=torch.bool),
        }
        return pad_batch(rows, int(self.tokenizer.pad_token_id), extra)
