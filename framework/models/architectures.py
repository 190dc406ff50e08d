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
    "bert": {
        "linear": ("query", "key", "value", "dense"),
        "attention": ("query", "key", "value"),
        "ia3": ("key", "value", "output.dense"),
        "feedforward": ("output.dense",),
    },
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
