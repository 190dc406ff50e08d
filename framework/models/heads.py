"""Load (or build) the base model with the head its task needs: LM, sequence, token or span."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.models.loader import BaseSpec, convert_gguf, load_causal_lm, random_config
from framework.models.quantization import bnb_config, release_file_mappings
from framework.tasks.registry import task_spec

if TYPE_CHECKING:
    import torch


def load_task_model(
    task: str, labels: tuple[str, ...], architecture: str, pad_token_id: int, spec: BaseSpec
) -> torch.nn.Module:
    """The base model for `task`; a new head is initialised from `spec.seed` (reproducible)."""
    spec_of_task = task_spec(task)
    if spec_of_task.generative:
        return load_causal_lm(spec, architecture)
    import torch
    import transformers

    auto = getattr(transformers, spec_of_task.head)
    head: dict[str, object] = {}
    if labels:
        head = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {label: i for i, label in enumerate(labels)},
        }
    source = spec.source
    with torch.random.fork_rng():
        torch.manual_seed(spec.seed)
        if spec.random_init is not None:
            config = random_config(architecture, spec.random_init, spec.vocab_size, pad_token_id)
            for key, value in head.items():
                setattr(config, key, value)
            model = auto.from_config(config, dtype=torch.float32)
        else:
            location = (
                str(convert_gguf(source, spec.cache_dir))
                if source.kind == "gguf"
                else source.location
            )
            extra: dict[str, object] = {"use_safetensors": True}
            if spec.quantization is not None:
                extra["quantization_config"] = bnb_config(spec.quantization)
            model = auto.from_pretrained(
                location,
                dtype=getattr(torch, spec.dtype),
                trust_remote_code=spec.trust_remote_code,
                **head,
                **extra,
            )
            if spec.quantization is not None:
                release_file_mappings(model)  # only the packed weights stay resident
    model.config.pad_token_id = pad_token_id  # decoders need it to find each row's last token
    return model  # type: ignore[no-any-return]


def head_parameter_ids(model: torch.nn.Module) -> set[int]:
    """ids of the parameters outside the transformers backbone: the task head (classifier,
    score, qa_outputs), also when PEFT wraps it in modules_to_save. Empty when unknown."""
    import torch

    get_base = getattr(model, "get_base_model", None)
    inner = get_base() if callable(get_base) else model
    prefix = str(getattr(inner, "base_model_prefix", "") or "")
    backbone = getattr(inner, prefix, None) if prefix else None
    if not isinstance(backbone, torch.nn.Module) or backbone is inner:
        return set()
    inside = {id(p) for p in backbone.parameters()}
    return {id(p) for p in inner.parameters() if id(p) not in inside}
