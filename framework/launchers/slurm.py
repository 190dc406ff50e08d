"""SLURM (hydra-submitit-launcher): the launcher's shape derived from the hardware preset.

sweeps/sweep/slurm.yaml reads `${ht.slurm_tasks:...}`, `${ht.slurm_gpus:...}` and
`${ht.slurm_nodes:...}`: one task per process (tasks_per_node = hardware.devices), one GPU per
task on GPU presets (gpus_per_node = hardware.devices; 0 on hardware.accelerator=cpu), nodes =
hardware.num_nodes. "auto" cannot be resolved on a login node (its GPUs are not the job's):
it asks for one task (and one GPU) per node; set hardware.devices=N / hardware.num_nodes=N.
Under srun, Lightning's SLURM environment assigns the ranks (SLURM_PROCID...), no re-spawn.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

# sweeps/sweep/slurm.yaml's launcher: the plugin's, recording trials that end without a result.
SLURM_LAUNCHER = "hydra_plugins.hydratune_launchers.slurm.SlurmLauncher"


def _count(value: Any) -> int:
    """An int from a preset's devices/num_nodes; "auto" (unknown on the login node) is 1."""
    text = str(value)
    return int(text) if text.isdigit() else 1


def tasks_per_node(devices: Any) -> int:
    """One SLURM task per process of the preset."""
    return _count(devices)


def gpus_per_node(devices: Any, accelerator: Any) -> int:
    """One GPU per task on GPU presets (accelerator gpu or auto), none on the CPU presets."""
    return 0 if str(accelerator) == "cpu" else _count(devices)


def nodes(num_nodes: Any) -> int:
    """hardware.num_nodes, "auto" as 1."""
    return _count(num_nodes)


def register_resolvers() -> None:
    """Make `${ht.slurm_tasks:devices}`, `${ht.slurm_gpus:devices,accelerator}` and
    `${ht.slurm_nodes:num_nodes}` available to configs."""
    for name, function in (
        ("ht.slurm_tasks", tasks_per_node),
        ("ht.slurm_gpus", gpus_per_node),
        ("ht.slurm_nodes", nodes),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, function)
