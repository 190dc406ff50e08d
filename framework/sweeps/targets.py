"""Only allow-listed `_target_`s may be instantiated from composed (possibly shared) configs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.errors import allowed_list

ALLOWED_TARGETS = frozenset(
    {
        "framework.sweeps.summary.SweepSummary",
        "hydra_plugins.hydratune_launchers.launchers.AzureMLLauncher",
        "hydra_plugins.hydratune_launchers.launchers.KaitoLauncher",
        "hydra_plugins.hydratune_launchers.slurm.SlurmLauncher",
        "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
        "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
        "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
        "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
        "optuna.samplers.TPESampler",
        "optuna.samplers.RandomSampler",
        "optuna.samplers.GridSampler",
        "optuna.samplers.CmaEsSampler",
        "optuna.samplers.NSGAIISampler",
    }
)


def _targets(node: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "_target_":
                yield child, str(value)
            else:
                yield from _targets(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _targets(value, f"{path}[{index}]")


def disallowed_target_problems(cfg: DictConfig) -> list[str]:
    """Every `_target_` outside the allow-list, naming its key."""
    return [
        f"{key}='{target}' is not an allowed _target_. Allowed: {allowed_list(ALLOWED_TARGETS)}"
        for key, target in _targets(OmegaConf.to_container(cfg, resolve=False), "")
        if target not in ALLOWED_TARGETS
    ]
