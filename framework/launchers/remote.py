"""Which launcher a composed config goes to, and the run's overrides as the remote sees them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from framework.launchers.slurm import SLURM_LAUNCHER

PLUGIN = "hydra_plugins.hydratune_launchers.launchers"
# Launchers that prepare a run for another machine: the GPU checks belong to that machine.
REMOTE_LAUNCHERS = {
    f"{PLUGIN}.AzureMLLauncher": "azureml",
    f"{PLUGIN}.KaitoLauncher": "kaito",
}
# Launchers whose jobs run on other machines but report back (a SLURM cluster's compute nodes):
# the submitting machine (a login node) checks the config, the job's node checks the machine.
SUBMITTING_LAUNCHERS = {
    SLURM_LAUNCHER: "slurm",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher": "slurm",
}
# Overrides that pick or configure where a run goes: never passed on to the run itself.
LAUNCH_KEYS = ("hydra/launcher", "hydra.launcher", "hydra.sweep", "hydra.mode")


def remote_launcher(cfg: Any) -> str | None:
    """'azureml' or 'kaito' when the config (composed with its hydra node) launches remotely."""
    if not isinstance(cfg, DictConfig) or "hydra" not in cfg:
        return None
    launcher = cfg.hydra.get("launcher")
    target = launcher.get("_target_") if isinstance(launcher, DictConfig) else None
    return REMOTE_LAUNCHERS.get(str(target)) if target else None


def _launcher_target(cfg: Any) -> str | None:
    if not isinstance(cfg, DictConfig) or "hydra" not in cfg:
        return None
    launcher = cfg.hydra.get("launcher")
    target = launcher.get("_target_") if isinstance(launcher, DictConfig) else None
    return str(target) if target else None


def runs_elsewhere(cfg: Any) -> str | None:
    """The launcher's name when the config's jobs run on another machine ('azureml', 'kaito',
    'slurm'): this machine's GPUs are not the job's, so the machine checks wait for the job
    (train() there composes without a hydra node and runs them)."""
    target = _launcher_target(cfg)
    if target is None:
        return None
    return REMOTE_LAUNCHERS.get(target) or SUBMITTING_LAUNCHERS.get(target)


def task_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides the remote `python train.py` gets: the launcher's own are dropped."""
    kept = []
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if not any(key == k or key.startswith(k + ".") for k in LAUNCH_KEYS):
            kept.append(override)
    return kept


def launcher_problems(cfg: DictConfig) -> list[str]:
    """The target's own rules, checked where the command is typed (exit 2 before launch)."""
    name = remote_launcher(cfg)
    if name is None:
        return []
    sweeper = str(cfg.hydra.get("sweeper", {}).get("_target_", ""))
    if "Optuna" in sweeper:
        return [
            f"hydra/launcher={name} writes each trial as a job and runs none here, so a search "
            "sweeper (+sweep=optuna) gets no results to choose the next trial from: sweep a grid "
            "(-m key=a,b) with it"
        ]
    if name == "azureml":
        from framework.launchers.azureml import job_problems

        return job_problems(cfg)
    if name == "kaito":
        from framework.launchers.kaito_checks import kaito_problems

        return kaito_problems(cfg)
    return []
