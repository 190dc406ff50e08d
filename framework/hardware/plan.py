"""One HardwarePlan per run: the preset's spec resolved against the machine (pure python)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from framework.hardware.machine import Machine
from framework.hardware.schema import DEEPSPEED_ALIASES

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from framework.models.quantization import QuantizationSpec


@dataclass(frozen=True)
class HardwareSpec:
    """What a hardware preset asks for, as typed flat values ("auto" still unresolved)."""

    accelerator: str = "cpu"
    devices: Any = 1  # an int or "auto"
    num_nodes: Any = 1  # an int or "auto"
    strategy: str = "auto"
    precision: str = "auto"
    process_group_backend: str | None = None
    zero_stage: int = 2
    offload_optimizer: bool = False
    offload_parameters: bool = False
    micro_batch_size: int = 1  # rows per process and step (DeepSpeed logs throughput by it)

    @classmethod
    def from_config(cls, hardware: Any, micro_batch_size: int) -> HardwareSpec:
        """From a `hardware` config node (conf/hardware/*.yaml over schema.HardwareConfig)."""
        return cls(
            accelerator=str(hardware.accelerator),
            devices=hardware.devices,
            num_nodes=hardware.num_nodes,
            strategy=str(hardware.strategy),
            precision=str(hardware.precision),
            process_group_backend=hardware.process_group_backend,
            zero_stage=int(hardware.deepspeed.stage),
            offload_optimizer=bool(hardware.deepspeed.offload_optimizer),
            offload_parameters=bool(hardware.deepspeed.offload_parameters),
            micro_batch_size=micro_batch_size,
        )

    @classmethod
    def of_run(cls, cfg: DictConfig) -> HardwareSpec:
        """The spec of a composed run: its hardware preset and dataset.batch_size."""
        return cls.from_config(cfg.hardware, int(cfg.dataset.batch_size))


@dataclass(frozen=True)
class HardwarePlan:
    """Where and how a run executes, with every "auto" resolved; built once per run."""

    accelerator: str  # cpu | gpu
    devices: int  # processes per node
    num_nodes: int
    precision: str
    strategy: str  # auto | ddp | deepspeed | fsdp
    process_group_backend: str | None = None
    zero_stage: int = 0  # DeepSpeed ZeRO stage; 0 when DeepSpeed is not used
    offload_optimizer: bool = False
    offload_parameters: bool = False
    micro_batch_size: int = 1
    machine: Machine = field(default_factory=Machine)  # the facts it was resolved against

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


def resolve_devices(devices: Any, accelerator: str, machine: Machine) -> int:
    """Processes per node: an int, or "auto" (launcher's count, else every GPU, else 1)."""
    if isinstance(devices, int) or str(devices).isdigit():
        return int(devices)
    launched = machine.launched("LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE")
    if launched is not None:
        return launched
    return max(1, machine.gpus) if accelerator == "gpu" else 1


def resolve_num_nodes(num_nodes: Any, machine: Machine) -> int:
    """Nodes: an int, or "auto" (SLURM_NNODES, torchrun's GROUP_WORLD_SIZE, else 1)."""
    if isinstance(num_nodes, int) or str(num_nodes).isdigit():
        return int(num_nodes)
    return machine.launched("SLURM_NNODES", "GROUP_WORLD_SIZE") or 1


def resolve_precision(precision: str, accelerator: str, bf16: bool) -> str:
    """auto: 32-true on the CPU (bf16 matmuls crawl there), bf16-mixed on GPUs that have it."""
    if precision != "auto":
        return precision
    if accelerator != "gpu":
        return "32-true"
    return "bf16-mixed" if bf16 else "16-mixed"


def resolve_plan(spec: HardwareSpec, machine: Machine) -> HardwarePlan:
    """The concrete settings of a preset on a machine (Lightning's DeepSpeed names unfolded)."""
    strategy, stage = spec.strategy, spec.zero_stage
    offload_optimizer, offload_parameters = spec.offload_optimizer, spec.offload_parameters
    if strategy in DEEPSPEED_ALIASES:
        stage, offload_optimizer, offload_parameters = DEEPSPEED_ALIASES[strategy]
        strategy = "deepspeed"
    auto = "gpu" if machine.gpus > 0 else "cpu"
    accelerator = {"cuda": "gpu", "auto": auto}.get(spec.accelerator, spec.accelerator)
    deepspeed = strategy == "deepspeed"
    return HardwarePlan(
        accelerator=accelerator,
        devices=resolve_devices(spec.devices, accelerator, machine),
        num_nodes=resolve_num_nodes(spec.num_nodes, machine),
        precision=resolve_precision(spec.precision, accelerator, machine.bf16),
        strategy=strategy,
        process_group_backend=spec.process_group_backend,
        zero_stage=stage if deepspeed else 0,
        offload_optimizer=deepspeed and offload_optimizer,
        offload_parameters=deepspeed and offload_parameters,
        micro_batch_size=spec.micro_batch_size,
        machine=machine,
    )


def quantization_for(spec: QuantizationSpec | None, plan: HardwarePlan) -> QuantizationSpec | None:
    """4-bit storage follows the compute dtype when parameters are sharded (ZeRO-3, FSDP):
    sharding flattens tensors of one dtype, and uint8-packed weights would not shard with
    the float parameters beside them (bnb_4bit_quant_storage, as in QLoRA + FSDP/ZeRO-3)."""
    if spec is None or spec.bits != 4 or not plan.shards_parameters:
        return spec
    return replace(spec, quant_storage=spec.compute_dtype)
