"""Generation metrics: greedy answers to held-out prompts, scored by the dataset's format."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from framework.data.encoders import as_chat
from framework.data.formats import DATA_FORMATS
from framework.data.rows import Row
from framework.errors import UserError
from framework.inference.generate import conversation, cut_at_stop, prompt_ids, stop_token_ids
from framework.tasks.metrics import squad_scores, translation_scores
from framework.tasks.registry import task_spec

log = logging.getLogger(__name__)

Scorer = Callable[[list[str], list[str]], dict[str, float]]


def answer_scores(generated: list[str], references: list[str]) -> dict[str, float]:
    """SQuAD exact match and token F1 (0-100) of each answer against its one reference."""
    pairs = [squad_scores(g, [r]) for g, r in zip(generated, references, strict=True)]
    n = max(len(pairs), 1)
    return {
        "exact_match": 100 * sum(em for em, _ in pairs) / n,
        "f1": 100 * sum(f1 for _, f1 in pairs) / n,
    }


def no_scores(generated: list[str], references: list[str]) -> dict[str, float]:
    """No overlap score: a chat reply has many good answers (samples and EOS rate only)."""
    return {}


# FormatSpec.scorer -> the scoring function. Chat replies are generated (samples.jsonl,
# eos_stop_rate) but not scored against the one reference ("unscored").
SCORE_KINDS: dict[str, Scorer] = {
    "answer": answer_scores,  # exact_match, f1 (QA, a label or an instruction's answer)
    "translation": translation_scores,  # bleu, chrf
    "unscored": no_scores,
}
# dataset.format -> how generated answers are scored (from the formats table). Formats with no
# prompt to answer (raw text) are absent: no generation.
SCORERS: dict[str, Scorer] = {
    name: SCORE_KINDS[spec.scorer] for name, spec in DATA_FORMATS.items() if spec.scorer
}


@dataclass(frozen=True)
class Prompt:
    """One held-out row ready to generate from: rendered prompt ids and the reference."""

    text: str  # the last user message (for samples.jsonl)
    ids: list[int]
    reference: str
    origin: str


@dataclass
class Sample:
    """One generated answer, as written to samples.jsonl."""

    prompt: str
    reference: str
    generated: str
    stopped_at_eos: bool
    origin: str


@dataclass
class GenerationEval:
    """Greedy generation on fixed held-out prompts; scores and samples of the last call.

    Under DDP every rank generates every prompt (as validation scores every row on every
    rank), with `synced_gpus` so sharded models (ZeRO-3, FSDP) keep their collectives in step;
    the scores are identical on every rank and rank 0 writes the samples.
    """

    prompts: list[Prompt]
    scorer: Scorer
    tokenizer: Any
    max_new_tokens: int
    method_name: str = ""
    samples: list[Sample] = field(default_factory=list)
    disabled: bool = False

    @torch.no_grad()
    def evaluate(self, net: Any, world_size: int = 1) -> dict[str, float]:
        """Generate for every prompt; the format's scores plus eos_stop_rate (empty: skipped)."""
        if self.disabled or not self.prompts:
            return {}
        stop_ids = stop_token_ids(self.tokenizer, net)
        try:
            new_tokens = self._generate(net, stop_ids, world_size > 1)
        except (NotImplementedError, TypeError, ValueError, AttributeError) as error:
            self.disabled = True
            log.warning(
                "generation metrics skipped: method=%s cannot generate (%s: %s)",
                self.method_name or "?",
                type(error).__name__,
                str(error).splitlines()[0] if str(error) else "",
            )
            return {}
        self.samples = []
        for prompt, tokens in zip(self.prompts, new_tokens, strict=True):
            answer = cut_at_stop(tokens, stop_ids)
            text = str(self.tokenizer.decode(answer, skip_special_tokens=True)).strip()
            stopped = len(answer) < len(tokens)
            self.samples.append(Sample(prompt.text, prompt.reference, text, stopped, prompt.origin))
        scores = self.scorer(
            [s.generated for s in self.samples], [s.reference for s in self.samples]
        )
        stops = sum(s.stopped_at_eos for s in self.samples)
        return {**scores, "eos_stop_rate": stops / len(self.samples)}

    def _generate(self, net: Any, stop_ids: list[int], synced: bool) -> list[list[int]]:
        """New tokens of every prompt, left-padded into one greedy batch."""
        pad_id = int(self.tokenizer.pad_token_id)
        width = max(len(p.ids) for p in self.prompts)
        device = next(net.parameters()).device
        ids = torch.full((len(self.prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, prompt in enumerate(self.prompts):
            ids[i, width - len(prompt.ids) :] = torch.tensor(prompt.ids)
            mask[i, width - len(prompt.ids) :] = 1
        output = net.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=self.max_new_tokens,
            do_sample=False,
            eos_token_id=stop_ids,
            pad_token_id=pad_id,
            synced_gpus=synced,
        )
        return [row.tolist() for row in output[:, width:]]

    def sample_rows(self) -> list[dict[str, Any]]:
        """The last call's samples as JSON-ready dicts."""
        return [asdict(s) for s in self.samples]


def generation_prompts(
    rows: Sequence[Row], tokenizer: Any, system_prompt: str | None, limit: int
) -> list[Prompt]:
    """The first `limit` rows with one reference answer, rendered as inference renders them."""
    out: list[Prompt] = []
    for row in rows:
        if len(out) >= limit:
            break
        try:
            chat = as_chat(row)
        except UserError:  # raw text: no prompt and answer
            continue
        role, last = chat.messages[-1]
        if role != "assistant" or len(chat.messages) < 2:
            continue
        history = [{"role": r, "content": c} for r, c in chat.messages[:-1]]
        ids = prompt_ids(tokenizer, conversation(history, system_prompt))
        # The reference: the row's expected answer, or a chat row's final assistant reply.
        out.append(Prompt(history[-1]["content"], ids, chat.reference or last, chat.origin))
    return out


def build_generation_eval(
    task: str,
    fmt: str,
    rows: Sequence[Row],
    tokenizer: Any,
    system_prompt: str | None,
    generate_rows: int,
    max_new_tokens: int,
    method_name: str = "",
) -> GenerationEval | None:
    """The generation evaluation of a run, or None when its task/format has none."""
    if (
        not task_spec(task).generative
        or generate_rows <= 0
        or max_new_tokens <= 0
        or fmt not in SCORERS
    ):
        return None
    prompts = generation_prompts(rows, tokenizer, system_prompt, generate_rows)
    if not prompts:
        return None
    return GenerationEval(prompts, SCORERS[fmt], tokenizer, max_new_tokens, method_name)


def generation_report(after: dict[str, float], generation: GenerationEval | None) -> dict[str, Any]:
    """metrics.json keys of the after-training generation: eos_stop_rate and sample count."""
    if generation is None or "val/eos_stop_rate" not in after:
        return {}
    return {
        "eos_stop_rate": after["val/eos_stop_rate"],
        "generated_samples": len(generation.samples),
    }
