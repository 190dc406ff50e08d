"""Compose the config once before Hydra runs, so user mistakes exit 2 with a clear message."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from framework.cli.compose_errors import describe
from framework.config.strict import strict_problems
from framework.config.validate import all_problems
from framework.errors import UserError
from framework.launchers.remote import launcher_problems
from framework.sweeps.targets import disallowed_target_problems

MAX_SWEEP_COMBINATIONS = 1024


def _compose(config_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(config_dir), version_base="1.3"):
        return compose(config_name, overrides=overrides, return_hydra_config=True)


def check_overrides(config_dir: Path, config_name: str, overrides: list[str]) -> DictConfig:
    """Compose with these overrides and validate; raise UserError with every problem."""
    user = list(overrides)

    def base() -> DictConfig | None:
        groups = {p.name for p in config_dir.iterdir() if p.is_dir()} | {"method"}

        def selects(override: str) -> bool:  # a group preset (hydra/launcher=... included)
            key = override.split("=", 1)[0].lstrip("+~")
            return key in groups or key.startswith("hydra/")

        selections = [o for o in user if selects(o)]
        try:
            return _compose(config_dir, config_name, selections)
        except Exception:
            return None

    try:
        cfg = _compose(config_dir, config_name, user)
    except Exception as error:
        raise UserError(describe(error, base)) from None
    try:
        problems = disallowed_target_problems(cfg) + all_problems(cfg)
        problems += launcher_problems(cfg) if not problems else []
    except UserError:
        raise
    except Exception as error:  # a config not built on hydratune's schema: refuse, never skip
        raise UserError(
            f"config '{config_name}' in {config_dir} cannot be checked "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
            "hydratune runs configs composed on conf/train.yaml's defaults and schema"
        ) from None
    # A dry run prints the problems with its plan, then exits 2, unless the plan itself cannot
    # be read (unknown keys, values that do not resolve).
    if problems and (strict_problems(cfg) or not cfg.run.dry_run):
        raise UserError("\n  ".join(["the run cannot start:", *problems]))
    return cfg


def sweep_combinations(overrides: list[str]) -> tuple[list[list[str]], bool]:
    """Every combination of a multirun's discrete sweep overrides, and whether that is all of
    them: range/interval sweeps belong to the sweeper, which is left at the base value here
    (each trial is checked again when it starts, before it writes anything)."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    choices, complete = [], True
    for override in parsed:
        if not override.is_sweep_override():
            choices.append([str(override.input_line)])
        elif override.is_discrete_sweep():
            key = override.get_key_element()
            choices.append([f"{key}={v}" for v in override.sweep_string_iterator()])
        else:
            complete = False
    count = math.prod(len(c) for c in choices)
    if count > MAX_SWEEP_COMBINATIONS:
        raise UserError(
            f"the sweep has {count} combinations; at most {MAX_SWEEP_COMBINATIONS} are checked "
            "before launch, and an unchecked run is never started. Split the sweep, or let a "
            "search sweeper draw the trials (+sweep=optuna), whose trials are checked as they start"
        )
    return [list(c) for c in itertools.product(*choices)], complete


def preflight(
    config_dir: Path, config_name: str, overrides: list[str], multirun: bool
) -> DictConfig:
    """Check a single run's overrides, or every combination of a sweep's discrete values;
    return the first composed config (with its hydra node)."""
    if not multirun:
        return check_overrides(config_dir, config_name, overrides)
    try:
        combos, _ = sweep_combinations(overrides)
    except UserError:
        raise
    except Exception as error:
        raise UserError(describe(error, lambda: None)) from None
    checked = [check_overrides(config_dir, config_name, combo) for combo in combos]
    return checked[0]
