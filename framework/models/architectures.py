"""Per-architecture facts: named module sets that methods target, and where the blocks are."""

from __future__ import annotations

from dataclasses import dataclass

# Module sets per architecture, by kind. A method names the kind it adapts (Capabilities.targets):
#   linear       every projection in attention and MLP (LoRA and its relatives)
#   attention    the attention projections only
#   ia3          what IA3 rescales: keys, values and the MLP output projection
#   feedforward  the MLP output projection (IA3 scales its input instead of its output)
# Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj, so its sets name those.
MODULE_SETS: dict[str, dict[str, tuple[str, ...]]] = {
    "llama": {
        "linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "ia3": ("k_proj", "v_proj", "down_proj"),
        "feedforward": ("down_proj",),
    },
    "phi3": {
        "linear": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
        "attention": ("qkv_proj", "o_proj"),
        "ia3": ("qkv_proj", "down_proj"),
        "feedforward": ("down_proj",),
    },
    # Same projection names as Llama (Qwen2 adds biases on q/k/v; Gemma 2 soft-caps logits).
    "mistral": {
        "linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "ia3": ("k_proj", "v_proj", "down_proj"),
        "feedforward": ("down_proj",),
    },
    "qwen2": {
        "linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "ia3": ("k_proj", "v_proj", "down_proj"),
        "feedforward": ("down_proj",),
    },
    "gemma2": {
        "linear": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
        "attention": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "ia3": ("k_proj", "v_proj", "down_proj"),
        "feedforward": ("down_proj",),
    },
    "bert": {
        "linear": ("query", "key", "value", "dense"),
        "attention": ("query", "key", "value"),
        "ia3": ("key", "value", "output.dense"),
        "feedforward": ("output.dense",),
    },
}
# Every module name a method may target, per architecture (checked before launch).
MODULE_NAMES: dict[str, tuple[str, ...]] = {
    arch: tuple(
        sorted({name for names in sets.values() for name in names} | {"lm_head", "embed_tokens"})
    )
    for arch, sets in MODULE_SETS.items()
}
MODULE_NAMES["bert"] = (*MODULE_NAMES["bert"], "intermediate.dense", "attention.output.dense")
# config.json model_type -> architecture key.
MODEL_TYPES = {
    "llama": "llama",
    "phi3": "phi3",
    "mistral": "mistral",
    "qwen2": "qwen2",
    "gemma2": "gemma2",
    "bert": "bert",
}
# GGUF general.architecture -> the architectures such a file can hold (llama.cpp writes
# Mistral models as "llama"; transformers tells them apart by the model name).
GGUF_ARCHITECTURES = {
    "llama": ("llama", "mistral"),
    "mistral": ("mistral",),
    "phi3": ("phi3",),
    "qwen2": ("qwen2",),
    "gemma2": ("gemma2",),
}
# Families refused, with the reason.
REFUSED_MODEL_TYPES = {
    "phi3small": "Phi-3-small needs trust_remote_code (custom modeling code) and the tiktoken "
    "tokenizer (cl100k), which this framework does not load; use phi3_mini or phi3_medium",
}
TARGET_KINDS = ("linear", "attention", "ia3", "feedforward", "none")
ARCHITECTURES = tuple(MODULE_SETS)  # the allowed model.architecture values
ENCODER_ARCHITECTURES = ("bert",)  # encoders: no causal LM head (task=causal_lm refuses them)


@dataclass(frozen=True)
class BlockLayout:
    """Attribute paths of the transformer block list and the final norm ('' when absent)."""

    blocks: str
    final_norm: str


BLOCK_LAYOUTS: dict[str, BlockLayout] = {
    "llama": BlockLayout(blocks="model.layers", final_norm="model.norm"),
    "phi3": BlockLayout(blocks="model.layers", final_norm="model.norm"),
    "mistral": BlockLayout(blocks="model.layers", final_norm="model.norm"),
    "qwen2": BlockLayout(blocks="model.layers", final_norm="model.norm"),
    "gemma2": BlockLayout(blocks="model.layers", final_norm="model.norm"),
    "bert": BlockLayout(blocks="encoder.layer", final_norm=""),
}


def target_modules_for(
    architecture: str, preset_modules: list[str], kind: str = "linear"
) -> tuple[str, ...]:
    """Modules of `kind` for an architecture; a model preset's list replaces the linear set."""
    if kind == "none":
        return ()
    if kind == "linear" and preset_modules:
        return tuple(preset_modules)
    return MODULE_SETS.get(architecture, {}).get(kind, ())


def block_layout(architecture: str) -> BlockLayout | None:
    """Where an architecture keeps its blocks, or None for an unknown architecture."""
    return BLOCK_LAYOUTS.get(architecture)
