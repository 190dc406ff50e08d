"""The hardware preset's typed schema (conf/hardware/*.yaml) and the values its keys allow."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


@dataclass
class DeepSpeedConfig:
    """DeepSpeed ZeRO settings of a hardware preset (used when strategy=deepspeed)."""

    stage: int = 2  # 1: optimizer states, 2: + gradients, 3: + parameters are partitioned
    offload_optimizer: bool = False  # optimizer states and step on the CPU (DeepSpeedCPUAdam)
    offload_parameters: bool = False  # stage 3 only: parameters live on the CPU between uses


@dataclass
class HardwareConfig:
    """How a run uses the machine; resolved once per run into a HardwarePlan."""

    name: str = MISSING
    description: str = ""
    accelerator: str = "cpu"  # cpu | gpu | auto (a GPU when CUDA sees one, else the CPU)
    devices: Any = 1  # processes per node: an int or "auto" (every visible GPU; 1 on CPU)
    num_nodes: Any = 1  # an int or "auto" (from SLURM_NNODES / torchrun's GROUP_WORLD_SIZE)
    strategy: str = "auto"  # auto | ddp | deepspeed | fsdp (or deepspeed_stage_3_offload, ...)
    precision: str = "auto"  # auto: bf16-mixed on GPUs that support it, else 32-true
    process_group_backend: str | None = None  # gloo | nccl; None: Lightning's default
    deepspeed: DeepSpeedConfig = field(default_factory=DeepSpeedConfig)
    requires: list[str] = field(default_factory=list)  # what the machine must have: cuda
    # Methods the preset refuses, by a Capabilities flag that is true for them -> why.
    refuses: dict[str, str] = field(default_factory=dict)


# Lightning's registry names for DeepSpeed, accepted as hardware.strategy too:
# name -> (ZeRO stage, offload optimizer, offload parameters).
DEEPSPEED_ALIASES = {
    "deepspeed_stage_1": (1, False, False),
    "deepspeed_stage_2": (2, False, False),
    "deepspeed_stage_2_offload": (2, True, False),
    "deepspeed_stage_3": (3, False, False),
    "deepspeed_stage_3_offload": (3, True, True),
}
STRATEGIES = ("auto", "ddp", "deepspeed", "fsdp", *DEEPSPEED_ALIASES)
ACCELERATORS = ("cpu", "gpu", "cuda", "auto")
PRECISIONS = ("auto", "32-true", "bf16-mixed", "bf16-true", "16-mixed", "16-true", "64-true")

# hardware.<key> -> its allowed values (config.schema.CHOICES holds it under "hardware").
CHOICES: dict[str, tuple[str, ...]] = {
    "accelerator": ACCELERATORS,
    "strategy": STRATEGIES,
    "precision": PRECISIONS,
}
