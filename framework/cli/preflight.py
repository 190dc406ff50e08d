"""Compose the config once before Hydra runs, so user mistakes exit 2 with a clear message."""

from __future__ import annotations

import itertools
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from framework.cli.compose_errors import describe
from framework.config.validate import all_problems
from framework.errors import UserError
from framework.sweeps.targets import target_problems

MAX_SWEEP_COMBINATIONS = 64


def _compose(config_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(config_dir), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def check_overrides(config_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    """Compose with these overrides and validate; raise UserError with every problem."""
    user = list(overrides)

    def base() -> DictConfig | None:
        groups = {p.name for p in config_dir.iterdir() if p.is_dir()} | {"method"}
        selections = [o for o in user if o.split("=", 1)[0].lstrip("+~") in groups]
        try:
            return _compose(config_dir, config_name, selections)
        except Exception:
            return None

    try:
        cfg = _compose(config_dir, config_name, user)
    except Exception as error:
        raise UserError(describe(error, base)) from None
    problems = target_problems(cfg) + all_problems(cfg)
    if problems and not cfg.run.dry_run:  # a dry run prints them with the rest, then exits 2
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    return cfg


def sweep_combinations(overrides: list[str]) -> list[list[str]]:
    """The first combinations of a multirun's sweep overrides (simple sweeps only)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for override in parsed:
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                return []  # range/interval sweeps belong to the sweeper
            key = override.get_key_element()
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            choices.append([str(override.input_line)])
    return [list(c) for c in itertools.islice(itertools.product(*choices), MAX_SWEEP_COMBINATIONS)]


def preflight(config_dir: Path, config_name: str, overrides: list[str], multirun: bool) -> None:
    """Check a single run's overrides, or each combination of a simple sweep."""
    if not multirun:
        check_overrides(config_dir, config_name, overrides)
        return
    try:
        combos = sweep_combinations(overrides)
    except Exception as error:
        raise UserError(describe(error, lambda: None)) from None
    for combo in combos:
        check_overrides(config_dir, config_name, combo)
