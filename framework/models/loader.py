"""Load (or build) the base model and tokenizer; GGUF is converted once into the cache."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework.config.schema import RandomInitConfig
from framework.errors import UserError
from framework.models.quantization import (
    QuantizationSpec,
    bnb_config,
    quantize_in_memory,
    release_file_mappings,
)
from framework.models.source import ModelSource, hub_unreachable_message

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseSpec:
    """Where the base weights come from and how to load them (flat values, no config)."""

    source: ModelSource
    cache_dir: Path
    dtype: str
    trust_remote_code: bool
    random_init: RandomInitConfig | None
    vocab_size: int
    seed: int
    quantization: QuantizationSpec | None = None


def _gguf_args(source: ModelSource) -> tuple[str, dict[str, Any]]:
    path = Path(source.location)
    return str(path.parent), {"gguf_file": path.name}


def load_tokenizer(source: ModelSource, cache_dir: Path, trust_remote_code: bool) -> Any:
    """The tokenizer for a source; GGUF tokenizers are converted once and cached."""
    from transformers import AutoTokenizer

    if source.kind == "gguf":
        cached = cache_dir / "tokenizers" / source.cache_key
        if not (cached / "tokenizer_config.json").is_file():
            folder, kwargs = _gguf_args(source)
            log.info("converting the GGUF tokenizer once into %s", cached)
            tok = AutoTokenizer.from_pretrained(folder, **kwargs)
            _save_atomically(tok.save_pretrained, cached)
        tok = AutoTokenizer.from_pretrained(str(cached))
    else:
        tok = _from_pretrained(AutoTokenizer, source, trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(spec: BaseSpec, architecture: str = "llama") -> torch.nn.Module:
    """The base causal LM: random from a config, converted GGUF, local folder or hub.

    With a quantization spec the weights are loaded through bitsandbytes (4- or 8-bit), and
    only the packed weights stay resident: the fp32 file is let go once they are packed.
    """
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = getattr(torch, spec.dtype)
    quantization, source = spec.quantization, spec.source
    if spec.random_init is not None:
        model = build_random_model(architecture, spec.random_init, spec.vocab_size, spec.seed).to(
            torch_dtype
        )
        if quantization is None:
            return model
        packed = quantize_in_memory(model, quantization)
        del model  # the fp32 source: nothing else holds it
        release_file_mappings(packed)
        return packed
    quantized = {"quantization_config": bnb_config(quantization)} if quantization else {}
    quantized["use_safetensors"] = True  # never unpickle weights
    if source.kind == "gguf":
        folder = convert_gguf(source, spec.cache_dir)
        model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch_dtype, **quantized)
    else:
        model = _from_pretrained(
            AutoModelForCausalLM, source, spec.trust_remote_code, dtype=torch_dtype, **quantized
        )
    if quantization is not None:
        release_file_mappings(model)
    return model


def random_config(
    architecture: str, init: RandomInitConfig, vocab_size: int, pad_token_id: int, **extra: Any
) -> Any:
    """A small transformers config of the architecture (random weights, for tests)."""
    import transformers

    if architecture == "bert":
        return transformers.BertConfig(
            vocab_size=vocab_size,
            hidden_size=init.hidden_size,
            num_hidden_layers=init.num_layers,
            num_attention_heads=init.num_heads,
            intermediate_size=init.intermediate_size,
            max_position_embeddings=init.max_position_embeddings,
            pad_token_id=pad_token_id,
            **extra,
        )
    config_class = getattr(transformers, RANDOM_CONFIG_CLASSES.get(architecture, "LlamaConfig"))
    family = dict(RANDOM_FAMILY_FEATURES.get(architecture, {}))
    if architecture == "gemma2":
        family["head_dim"] = init.hidden_size // init.num_heads
        family["query_pre_attn_scalar"] = init.hidden_size // init.num_heads
    return config_class(
        vocab_size=vocab_size,
        hidden_size=init.hidden_size,
        intermediate_size=init.intermediate_size,
        num_hidden_layers=init.num_layers,
        num_attention_heads=init.num_heads,
        num_key_value_heads=init.num_kv_heads,
        max_position_embeddings=init.max_position_embeddings,
        pad_token_id=pad_token_id,
        **(family | extra),
    )


# transformers config class per decoder architecture (random_init builds the named one).
RANDOM_CONFIG_CLASSES = {
    "llama": "LlamaConfig",
    "phi3": "Phi3Config",  # fused qkv_proj and gate_up_proj
    "mistral": "MistralConfig",
    "qwen2": "Qwen2Config",  # biases on q/k/v
    "gemma2": "Gemma2Config",  # logit soft-capping, tied embeddings
}
RANDOM_FAMILY_FEATURES: dict[str, dict[str, Any]] = {
    "mistral": {"sliding_window": None},
    "gemma2": {"final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0},
}


def build_random_model(
    architecture: str, init: RandomInitConfig, vocab_size: int, seed: int
) -> torch.nn.Module:
    """A tiny model of the architecture with random weights, deterministic for a seed."""
    import torch
    from transformers import AutoModelForCausalLM

    tied = architecture not in ("phi3", "mistral")
    config = random_config(
        architecture, init, vocab_size, 2, tie_word_embeddings=tied, bos_token_id=1, eos_token_id=2
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32)


def build_random_llama(init: RandomInitConfig, vocab_size: int, seed: int) -> torch.nn.Module:
    """A tiny Llama with random weights, deterministic for a seed."""
    return build_random_model("llama", init, vocab_size, seed)


def convert_gguf(source: ModelSource, cache_dir: Path) -> Path:
    """Dequantize a GGUF checkpoint once into a safetensors folder; return the folder."""
    target = cache_dir / "models" / source.cache_key
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder, kwargs = _gguf_args(source)
    log.info("converting %s once into %s (about 30 s)", source.location, target)
    loaded = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)  # weights are dequantized now
    model_type = config_dict.pop("model_type")
    plain = AutoModelForCausalLM.from_config(
        AutoConfig.for_model(model_type, **config_dict), dtype=torch.float32
    )
    plain.load_state_dict(loaded.state_dict(), strict=True)

    def save(path: str) -> None:
        plain.save_pretrained(path)
        load_tokenizer(source, cache_dir, trust_remote_code=False).save_pretrained(path)

    _save_atomically(save, target)
    return target


def _save_atomically(save: Any, target: Path) -> None:
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    save(str(tmp))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def _from_pretrained(auto_cls: Any, source: ModelSource, trust: bool, **kwargs: Any) -> Any:
    if trust:
        log.warning("trust_remote_code is ON for %s (set by the model preset)", source.location)
    try:
        return auto_cls.from_pretrained(source.location, trust_remote_code=trust, **kwargs)
    except OSError as error:
        if source.kind == "hub":
            raise UserError(hub_unreachable_message(source.location, error)) from None
        raise UserError(f"model.local_path='{source.location}': {error}") from None
