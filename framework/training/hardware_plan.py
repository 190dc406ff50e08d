"""Resolve a hardware preset into concrete Trainer settings (pure python: dry runs use it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.models.quantization import QuantizationSpec

MULTI_PROCESS_STRATEGIES = ("ddp", "deepspeed", "fsdp")
# Lightning's registry names for DeepSpeed, accepted as hardware.strategy too:
# name -> (ZeRO stage, offload optimizer, offload parameters).
DEEPSPEED_ALIASES = {
    "deepspeed_stage_1": (1, False, False),
    "deepspeed_stage_2": (2, False, False),
    "deepspeed_stage_2_offload": (2, True, False),
    "deepspeed_stage_3": (3, False, False),
    "deepspeed_stage_3_offload": (3, True, True),
}


@dataclass(frozen=True)
class HardwarePlan:
    """Where and how a run executes, with every "auto" resolved."""

    accelerator: str  # cpu | gpu
    devices: int  # processes per node
    num_nodes: int
    precision: str
    strategy: str  # auto | ddp | deepspeed | fsdp
    process_group_backend: str | None = None
    zero_stage: int = 0  # DeepSpeed ZeRO stage; 0 when DeepSpeed is not used
    offload_optimizer: bool = False
    offload_parameters: bool = False
    strategy_kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    @property
    def shards_parameters(self) -> bool:
        """Parameters are partitioned over ranks (ZeRO-3, FSDP)."""
        return self.zero_stage == 3 or self.strategy == "fsdp"

    @property
    def strategy_names(self) -> tuple[str, ...]:
        """Every name the strategy is known by (methods refuse strategies by these names)."""
        if self.strategy == "deepspeed":
            stage = f"deepspeed_stage_{self.zero_stage}"
            offload = self.offload_optimizer or self.offload_parameters
            return ("deepspeed", stage, f"{stage}_offload") if offload else ("deepspeed", stage)
        if self.strategy == "fsdp":
            return ("fsdp", "model_parallel")  # FSDP2 through Lightning's ModelParallelStrategy
        return (self.strategy,)

    @property
    def strategy_class(self) -> str:
        """The Lightning strategy that will be built, by name (for the dry-run plan)."""
        return {
            "ddp": "pytorch_lightning.strategies.DDPStrategy",
            "deepspeed": "framework.training.strategies.CPUCapableDeepSpeedStrategy",
            "fsdp": "pytorch_lightning.strategies.ModelParallelStrategy",
        }.get(self.strategy, "auto (Lightning picks)")


def visible_gpus(env: Mapping[str, str] | None = None) -> int:
    """CUDA devices this process may use, found without importing torch (dry runs stay fast)."""
    env = os.environ if env is None else env
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [d for d in listed.split(",") if d.strip() and d.strip() != "-1"]
        return len(ids) if _nvidia_driver_gpus() else 0
    return _nvidia_driver_gpus()


def _nvidia_driver_gpus() -> int:
    folder = Path("/proc/driver/nvidia/gpus")
    return len(list(folder.iterdir())) if folder.is_dir() else 0


def _env_int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def resolve_devices(devices: Any, accelerator: str, gpus: int, env: Mapping[str, str]) -> int:
    """Processes per node: an int, or "auto" (launcher's count, else every GPU, else 1)."""
    if isinstance(devices, int) or str(devices).isdigit():
        return int(devices)
    launched = _env_int(env, "LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE")
    if launched is not None:
        return launched
    return max(1, gpus) if accelerator == "gpu" else 1


def resolve_num_nodes(num_nodes: Any, env: Mapping[str, str]) -> int:
    """Nodes: an int, or "auto" (SLURM_NNODES, torchrun's GROUP_WORLD_SIZE, else 1)."""
    if isinstance(num_nodes, int) or str(num_nodes).isdigit():
        return int(num_nodes)
    return _env_int(env, "SLURM_NNODES", "GROUP_WORLD_SIZE") or 1


def resolve_precision(precision: str, accelerator: str, bf16: bool) -> str:
    """auto: 32-true on the CPU (bf16 matmuls crawl there), bf16-mixed on GPUs that have it."""
    if precision != "auto":
        return precision
    if accelerator != "gpu":
        return "32-true"
    return "bf16-mixed" if bf16 else "16-mixed"


def hardware_arguments(hardware: Any, micro_batch_size: int) -> dict[str, Any]:
    """The flat arguments of plan_hardware / hardware_to_trainer_kwargs from a hardware node."""
    return {
        "accelerator": str(hardware.accelerator),
        "devices": hardware.devices,
        "num_nodes": hardware.num_nodes,
        "strategy": str(hardware.strategy),
        "precision": str(hardware.precision),
        "process_group_backend": hardware.process_group_backend,
        "zero_stage": int(hardware.deepspeed.stage),
        "offload_optimizer": bool(hardware.deepspeed.offload_optimizer),
        "offload_parameters": bool(hardware.deepspeed.offload_parameters),
        "micro_batch_size": micro_batch_size,
    }


def plan_hardware(
    accelerator: str,
    devices: Any,
    num_nodes: Any,
    strategy: str,
    precision: str,
    process_group_backend: str | None = None,
    zero_stage: int = 2,
    offload_optimizer: bool = False,
    offload_parameters: bool = False,
    micro_batch_size: int = 1,
    gpus: int | None = None,
    bf16: bool = True,
    env: Mapping[str, str] | None = None,
) -> HardwarePlan:
    """The concrete settings for a preset; `gpus` defaults to the CUDA devices visible here."""
    env = os.environ if env is None else env
    gpus = visible_gpus(env) if gpus is None else gpus
    if strategy in DEEPSPEED_ALIASES:
        zero_stage, offload_optimizer, offload_parameters = DEEPSPEED_ALIASES[strategy]
        strategy = "deepspeed"
    acc = {"cuda": "gpu", "auto": "gpu" if gpus > 0 else "cpu"}.get(accelerator, accelerator)
    n_devices = resolve_devices(devices, acc, gpus, env)
    n_nodes = resolve_num_nodes(num_nodes, env)
    resolved_precision = resolve_precision(precision, acc, bf16)
    uses_deepspeed = strategy == "deepspeed"
    kwargs: dict[str, Any] = {}
    if strategy in MULTI_PROCESS_STRATEGIES and process_group_backend is not None:
        kwargs["process_group_backend"] = process_group_backend
    if uses_deepspeed:
        kwargs |= {
            "stage": zero_stage,
            "offload_optimizer": offload_optimizer,
            "offload_parameters": offload_parameters,
            "logging_batch_size_per_gpu": micro_batch_size,
            "exclude_frozen_parameters": True,  # adapter checkpoints stay adapter-sized
        }
    if strategy == "fsdp":
        kwargs |= {
            "data_parallel_size": n_devices * n_nodes,
            "tensor_parallel_size": 1,
            "save_distributed_checkpoint": False,  # one checkpoint file, written by rank 0
        }
    return HardwarePlan(
        accelerator=acc,
        devices=n_devices,
        num_nodes=n_nodes,
        precision=resolved_precision,
        strategy=strategy,
        process_group_backend=process_group_backend,
        zero_stage=zero_stage if uses_deepspeed else 0,
        offload_optimizer=uses_deepspeed and offload_optimizer,
        offload_parameters=uses_deepspeed and offload_parameters,
        strategy_kwargs=kwargs,
    )


def quantization_for(spec: QuantizationSpec | None, plan: HardwarePlan) -> QuantizationSpec | None:
    """4-bit storage follows the compute dtype when parameters are sharded (ZeRO-3, FSDP):
    sharding flattens tensors of one dtype, and uint8-packed weights would not shard with
    the float parameters beside them (bnb_4bit_quant_storage, as in QLoRA + FSDP/ZeRO-3)."""
    if spec is None or spec.bits != 4 or not plan.shards_parameters:
        return spec
    return replace(spec, quant_storage=spec.compute_dtype)
