"""Built-in methods, each one file registered exactly as a plugin would register itself."""

import importlib

BUILTIN_MODULES = (
    "full",
    "freeze",
    "lora",
    "rslora",
    "dora",
    "qlora",
    "qdora",
    "lora_8bit",
    "ia3",
    "prefix",
    "prompt",
    "ptuning",
    "adalora",
    "loha",
    "lokr",
    "oft",
    "vera",
)


def load_builtins() -> None:
    """Import every built-in method module (registration happens on import)."""
    for name in BUILTIN_MODULES:
        importlib.import_module(f"framework.methods.builtin.{name}")
