"""Hardware preset checks before launch: the machine, the strategy, and method conflicts."""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.errors import allowed_list
from framework.hardware.plan import HardwarePlan
from framework.launchers.remote import runs_elsewhere
from framework.methods.base import Capabilities, Method

REQUIREMENTS = ("cuda",)
BACKENDS = ("gloo", "nccl", "mpi")
ZERO_STAGES = (1, 2, 3)
FSDP_PRECISIONS = ("32-true", "bf16-mixed", "bf16-true", "16-true")
CAPABILITY_FLAGS = tuple(
    f.name for f in dataclasses.fields(Capabilities) if isinstance(f.default, bool)
)


def _whole_or_auto(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return value == "auto" or (str(value).isdigit() and int(value) >= 1)


def preset_problems(hw: DictConfig) -> list[str]:
    """Values inside the hardware node that no machine could accept."""
    if OmegaConf.is_missing(hw, "name"):
        return [
            "hardware.name is missing: the selected hardware config is a base of other presets "
            "(conf/hardware/_*.yaml), not a preset; pick one (`make presets` lists them)"
        ]
    found = []
    for key in ("devices", "num_nodes"):
        if not _whole_or_auto(hw[key]):
            found.append(f"hardware.{key}={hw[key]} is out of range (a whole number >= 1, or auto)")
    if int(hw.deepspeed.stage) not in ZERO_STAGES:
        stage = hw.deepspeed.stage
        found.append(f"hardware.deepspeed.stage={stage} is not allowed (allowed: 1, 2, 3)")
    backend = hw.process_group_backend
    if backend is not None and backend not in BACKENDS:
        found.append(
            f"hardware.process_group_backend='{backend}' is not allowed "
            f"(allowed: {allowed_list(BACKENDS)}, or null for Lightning's default)"
        )
    found += [
        f"hardware.requires has '{need}', which is unknown (allowed: {allowed_list(REQUIREMENTS)})"
        for need in hw.requires
        if need not in REQUIREMENTS
    ]
    found += [
        f"hardware.refuses has '{flag}', which is not a method capability "
        f"(allowed: {allowed_list(CAPABILITY_FLAGS)})"
        for flag in hw.refuses
        if flag not in CAPABILITY_FLAGS
    ]
    return found


def machine_problems(cfg: DictConfig, plan: HardwarePlan) -> list[str]:
    """The preset asks for something this machine or install does not have."""
    hw, found = cfg.hardware, []
    gpus = plan.machine.gpus
    if (plan.accelerator == "gpu" or "cuda" in hw.requires) and gpus == 0:
        found.append(
            f"hardware={hw.name} needs a CUDA GPU and none is visible here; use hardware=cpu or "
            "hardware=cpu_ddp (the zero* and fsdp presets fall back to the CPU by themselves)"
        )
    elif plan.accelerator == "gpu" and plan.devices > gpus:
        found.append(f"hardware.devices={plan.devices} asks for more GPUs than the {gpus} visible")
    if plan.accelerator == "cpu" and plan.process_group_backend == "nccl":
        found.append("hardware.process_group_backend=nccl needs GPUs; use gloo on the CPU")
    if plan.strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        found.append(
            f"hardware={hw.name} uses DeepSpeed, which is not installed: "
            "DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed==0.19.8"
        )
    return found


def strategy_problems(cfg: DictConfig, plan: HardwarePlan) -> list[str]:
    """Strategy settings that contradict each other or the optimizer."""
    found = []
    if plan.offload_parameters and plan.zero_stage != 3:
        found.append(
            "hardware.deepspeed.offload_parameters=true needs hardware.deepspeed.stage=3 "
            "(only ZeRO-3 partitions parameters)"
        )
    if plan.offload_optimizer and cfg.optim.name != "adamw":
        found.append(
            f"hardware={cfg.hardware.name} offloads the optimizer, which DeepSpeed steps with "
            f"DeepSpeedCPUAdam (AdamW); optim.name={cfg.optim.name} cannot be offloaded: use "
            "optim=adamw, or a preset without offload (hardware=zero2)"
        )
    if plan.accelerator == "cpu" and plan.precision.startswith("16"):
        found.append(
            f"hardware.precision={plan.precision} is not available on the CPU "
            "(use 32-true; bf16 runs but is ~100x slower on AVX2-only CPUs)"
        )
    if plan.strategy == "fsdp" and plan.precision not in FSDP_PRECISIONS:
        found.append(
            f"hardware.precision={plan.precision} is not supported with FSDP "
            f"(allowed: {allowed_list(FSDP_PRECISIONS)})"
        )
    return found


def method_strategy_problems(cfg: DictConfig, method: Method[Any], plan: HardwarePlan) -> list[str]:
    """The method refuses the strategy (its Capabilities), or the preset refuses the method."""
    caps, configured = method.capabilities, str(cfg.hardware.strategy)

    def shown(name: str) -> str:
        return configured if name == configured else f"{configured} ({name})"

    refused = [n for n in plan.strategy_names if n in caps.refuses_strategies]
    if refused:
        name = refused[0]
        return [
            f"method={method.name} cannot run with hardware.strategy={shown(name)}: "
            f"{caps.refuses_strategies[name]}"
        ]
    if caps.supports_strategies and not set(plan.strategy_names) & set(caps.supports_strategies):
        return [
            f"method={method.name} cannot run with hardware.strategy={configured} "
            f"(it supports: {allowed_list(caps.supports_strategies)})"
        ]
    return [
        f"hardware={cfg.hardware.name} refuses method={method.name} ({flag}): {why}"
        for flag, why in cfg.hardware.refuses.items()
        if getattr(caps, str(flag), False) is True
    ]


def hardware_problems(cfg: DictConfig, plan: HardwarePlan) -> list[str]:
    """Every problem with the hardware preset alone (method conflicts are checked later)."""
    found = preset_problems(cfg.hardware)
    if found:
        return found
    # Prepared for a remote target (hydra/launcher=azureml|kaito) or submitted to SLURM from a
    # login node: this machine's GPUs are not the job's; the machine checks run where the job
    # runs (train() there has no hydra node), and fail there with exit 2 / a `failed` trial.
    machine = [] if runs_elsewhere(cfg) else machine_problems(cfg, plan)
    return machine + strategy_problems(cfg, plan)
