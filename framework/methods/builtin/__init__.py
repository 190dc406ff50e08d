"""Built-in methods, each one file registered exactly as a plugin would register itself."""

import importlib

BUILTIN_MODULES = ("full", "lora", "dora")


def load_builtins() -> None:
    """Import every built-in method module (registration happens on import)."""
    for name in BUILTIN_MODULES:
        importlib.import_module(f"framework.methods.builtin.{name}")
