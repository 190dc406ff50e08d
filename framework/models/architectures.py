"""Per-architecture facts: default LoRA target modules and layer-name patterns."""

from __future__ import annotations

DEFAULT_TARGET_MODULES: dict[str, tuple[str, ...]] = {
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
    "bert": ("query", "key", "value", "dense"),
}


def target_modules_for(architecture: str, preset_modules: list[str]) -> tuple[str, ...]:
    """The model preset's target modules, else the architecture's defaults."""
    if preset_modules:
        return tuple(preset_modules)
    return DEFAULT_TARGET_MODULES.get(architecture, ())
