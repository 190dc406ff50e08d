"""`--help` of train.py and the tools: Hydra's help template, with each config group described.

A group's one-line description is the first line of its schema's docstring (the dataclass that
types the group in framework/config/schema.py); sweep is described by its folder's README line.
Its presets are whatever Hydra finds on the search path (conf/, sweeps/, plugins, packages).
Nothing here imports torch: `--help` stays fast.
"""

from __future__ import annotations

import dataclasses
import string
import textwrap
import typing
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

RESOLVER = "ht.help_groups"
# Groups selected with `+group=preset` rather than `group=preset` (not in the defaults list).
ADDED_GROUPS = {"sweep": "A multirun sweep, added with -m +sweep=<preset>: a grid, Optuna, SLURM."}
WIDTH = 10
LINE = 100


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].strip() if (doc or "").strip() else ""


def group_descriptions() -> dict[str, str]:
    """group -> one line, in the order of the composed config (TrainConfig's fields)."""
    from framework.config.schema import MethodConfig, TrainConfig

    hints = typing.get_type_hints(TrainConfig)
    found: dict[str, str] = {}
    for f in dataclasses.fields(TrainConfig):
        if f.name == "run":  # run-level keys, not a group
            continue
        kind = MethodConfig if f.name == "method" else hints[f.name]  # methods subclass it
        found[f.name] = _first_line(kind.__doc__)
    return {**found, **ADDED_GROUPS}


def _options(group: str, searchpath: list[str]) -> list[str]:
    """The group's presets on Hydra's search path: its sources, plus the primary config's
    hydra.searchpath folders (sweeps/), which Hydra adds only while composing."""
    from hydra.core.global_hydra import GlobalHydra

    names: set[str] = set()
    if GlobalHydra.instance().is_initialized():
        names.update(GlobalHydra.instance().config_loader().get_group_options(group))
    for entry in searchpath:
        scheme, _, location = entry.partition("://")
        if scheme == "file":
            names.update(p.stem for p in (Path(location) / group).glob("*.yaml"))
    return sorted(n for n in names if not n.endswith("_schema") and n[:1] != "_")


def groups_text(root: DictConfig | None = None) -> str:
    """Every group: its name and description, then its presets (for the help template)."""
    searchpath = list(OmegaConf.select(root, "hydra.searchpath", default=[]) or []) if root else []
    lines = []
    for group, description in group_descriptions().items():
        lines.append(f"  {group:<{WIDTH}}{description}")
        options = ", ".join(_options(group, [str(e) for e in searchpath]))
        indent = " " * (WIDTH + 4)
        lines += textwrap.wrap(options, LINE, initial_indent=indent, subsequent_indent=indent)
    return "\n".join(lines)


def register_help_resolver() -> None:
    """Make `${ht.help_groups:}` (the groups section) available to help templates."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, lambda _root_: groups_text(_root_))


def tool_help(config_dir: Path, tool: str) -> str:
    """The help of evaluate.py, generate.py or export.py: the hydra.help.template conf/<tool>.yaml
    selects (conf/hydra/help/<tool>.yaml), $CONFIG being every key of the tool with its default
    (from its schema, framework/cli/tool_configs.py)."""
    from hydra import compose, initialize_config_dir

    from framework.cli.tool_configs import register_tool_schemas

    register_tool_schemas()
    with initialize_config_dir(str(config_dir), version_base="1.3"):
        cfg = compose(tool, return_hydra_config=True)
    keys = OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"]))
    return string.Template(str(cfg.hydra.help.template)).safe_substitute(CONFIG=keys)
