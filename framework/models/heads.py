"""Load (or build) the base model with the head its task needs: LM, sequence, token or span."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from framework.config.schema import RandomInitConfig
from framework.models.loader import convert_gguf, load_causal_lm
from framework.models.quantization import QuantizationSpec, bnb_config
from framework.models.source import ModelSource

if TYPE_CHECKING:
    import torch

HEADS = {
    "seq_cls": "AutoModelForSequenceClassification",
    "token_cls": "AutoModelForTokenClassification",
    "qa": "AutoModelForQuestionAnswering",
}


def load_task_model(
    task: str,
    labels: tuple[str, ...],
    architecture: str,
    pad_token_id: int,
    source: ModelSource,
    cache_dir: Path,
    dtype: str,
    trust_remote_code: bool,
    random_init: RandomInitConfig | None,
    vocab_size: int,
    seed: int,
    quantization: QuantizationSpec | None = None,
) -> torch.nn.Module:
    """The base model for `task`; a new head is initialised from `seed` (reproducible)."""
    if task == "causal_lm":
        return load_causal_lm(
            source,
            cache_dir,
            dtype,
            trust_remote_code,
            random_init,
            vocab_size,
            seed,
            quantization,
        )
    import torch
    import transformers

    auto = getattr(transformers, HEADS[task])
    head: dict[str, object] = {}
    if labels:
        head = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        if random_init is not None:
            config = random_config(architecture, random_init, vocab_size, pad_token_id)
            for key, value in head.items():
                setattr(config, key, value)
            model = auto.from_config(config, dtype=torch.float32)
        else:
            location = (
                str(convert_gguf(source, cache_dir)) if source.kind == "gguf" else source.location
            )
            extra: dict[str, object] = {"use_safetensors": True}
            if quantization is not None:
                extra["quantization_config"] = bnb_config(quantization)
            model = auto.from_pretrained(
                location,
                dtype=getattr(torch, dtype),
                trust_remote_code=trust_remote_code,
                **head,
                **extra,
            )
    model.config.pad_token_id = pad_token_id  # decoders need it to find each row's last token
    return model  # type: ignore[no-any-return]


def random_config(
    architecture: str, init: RandomInitConfig, vocab_size: int, pad_token_id: int
) -> object:
    """A small transformers config of the architecture (random weights, for tests)."""
    from transformers import BertConfig, LlamaConfig

    if architecture == "bert":
        return BertConfig(
            vocab_size=vocab_size,
            hidden_size=init.hidden_size,
            num_hidden_layers=init.num_layers,
            num_attention_heads=init.num_heads,
            intermediate_size=init.intermediate_size,
            max_position_embeddings=init.max_position_embeddings,
            pad_token_id=pad_token_id,
        )
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=init.hidden_size,
        intermediate_size=init.intermediate_size,
        num_hidden_layers=init.num_layers,
        num_attention_heads=init.num_heads,
        num_key_value_heads=init.num_kv_heads,
        max_position_embeddings=init.max_position_embeddings,
        pad_token_id=pad_token_id,
    )
