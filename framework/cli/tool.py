"""Entry point of evaluate.py, generate.py and export.py: key=value args, checked, then run."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from framework.errors import UserError, exit_with

# Free text, per tool: taken verbatim (commas, quotes, brackets), not parsed as Hydra syntax.
TEXT_KEYS: dict[str, tuple[str, ...]] = {"generate": ("prompt", "system_prompt")}


def split_text_args(
    argv: list[str], text_keys: tuple[str, ...]
) -> tuple[list[str], dict[str, str]]:
    """Separate `prompt=...`-style free-text arguments from ordinary overrides."""
    overrides: list[str] = []
    texts: dict[str, str] = {}
    for arg in argv:
        key, sep, value = arg.partition("=")
        if sep and key in text_keys:
            texts[key] = value
        else:
            overrides.append(arg)
    return overrides, texts


def compose_tool_config(config_dir: Path, tool: str, argv: list[str]) -> DictConfig:
    """Compose conf/<tool>.yaml with key=value args; a mistake is a UserError."""
    from hydra import compose, initialize_config_dir

    from framework.cli.compose_errors import describe
    from framework.cli.tool_configs import register_tool_schemas, tool_problems

    register_tool_schemas()
    overrides, texts = split_text_args(argv, TEXT_KEYS.get(tool, ()))

    def base() -> DictConfig | None:
        try:
            with initialize_config_dir(str(config_dir), version_base="1.3"):
                return compose(tool)
        except Exception:
            return None

    try:
        with initialize_config_dir(str(config_dir), version_base="1.3"):
            cfg = compose(tool, overrides=overrides)
    except Exception as error:
        raise UserError(describe(error, base)) from None
    for key, value in texts.items():
        OmegaConf.update(cfg, key, value.replace("${", "\\${"), merge=False)  # no interpolation
    problems = tool_problems(tool, cfg)
    if problems:
        raise UserError(problems[0] if len(problems) == 1 else _listed(problems))
    return cfg


def _listed(problems: list[str]) -> str:
    return "\n  ".join(["the command cannot run:", *problems])


def run_tool(project_root: Path, tool: str, task: Callable[[DictConfig], None]) -> None:
    """Compose and check the tool's config, register methods, then run task(cfg)."""
    argv = sys.argv[1:]
    config_dir = project_root / "conf"
    if any(a in ("-h", "--help") for a in argv):
        from framework.cli.help import tool_help

        print(tool_help(config_dir, tool))
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        from framework.methods.discovery import discover_methods

        cfg = compose_tool_config(config_dir, tool, argv)
        discover_methods(project_root / "plugins")
        task(cfg)
    except UserError as error:
        exit_with(error)
