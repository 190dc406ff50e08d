"""Method discovery: built-ins, every .py in plugins/, and the `hydratune.methods` entry points."""

from __future__ import annotations

import importlib
import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from framework.errors import PluginError

ENTRY_POINT_GROUP = "hydratune.methods"


def load_plugin_folder(folder: Path) -> list[str]:
    """Import every .py file in `folder` (sorted); a failure names the plugin file."""
    import framework.methods.plugin_folder as namespace

    if not folder.is_dir():
        return []
    location = str(folder.resolve())
    namespace.__path__[:] = [location]
    os.environ["HYDRATUNE_PLUGINS"] = location  # child processes import the same plugins
    loaded = []
    for file in sorted(folder.glob("*.py")):
        if file.name.startswith("_"):
            continue
        module_name = f"{namespace.__name__}.{file.stem}"
        try:
            importlib.import_module(module_name)
        except PluginError:
            sys.modules.pop(module_name, None)
            raise
        except Exception as error:  # a plugin's own bug: stop, naming the plugin
            sys.modules.pop(module_name, None)
            raise PluginError(
                f"plugin {file} failed to import: {type(error).__name__}: {error}"
            ) from error
        loaded.append(module_name)
    return loaded


def load_entry_points() -> list[str]:
    """Load every installed package's `hydratune.methods` entry point."""
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            ep.load()
        except PluginError:
            raise
        except Exception as error:
            raise PluginError(
                f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP}) failed to load: "
                f"{type(error).__name__}: {error}"
            ) from error
        loaded.append(ep.value)
    return loaded


def discover_methods(plugin_folder: Path) -> None:
    """Register built-ins, folder plugins and entry-point plugins, in that order."""
    from framework.methods.builtin import load_builtins

    load_builtins()
    load_plugin_folder(plugin_folder)
    load_entry_points()
