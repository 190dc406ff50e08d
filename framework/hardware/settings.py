"""What each strategy is built with, from the plan alone (pure: the dry run prints it as is).

`deepspeed_config(plan)` is the DeepSpeed config dict the run hands to DeepSpeedStrategy
(config=...): the values Lightning's own defaults would have filled in for stage/offload
(tests/test_hardware_plan.py keeps them equal). At setup Lightning adds what the Trainer
knows: gradient_accumulation_steps, gradient_clipping and, for 16/bf16 precision, fp16/bf16.
"""

from __future__ import annotations

from typing import Any

from framework.hardware.plan import HardwarePlan

MULTI_PROCESS_STRATEGIES = ("ddp", "deepspeed", "fsdp")
# The Lightning strategy each plan.strategy builds, by name (hardware.strategies builds it).
STRATEGY_CLASSES = {
    "ddp": "pytorch_lightning.strategies.DDPStrategy",
    "deepspeed": "framework.hardware.strategies.CPUCapableDeepSpeedStrategy",
    "fsdp": "pytorch_lightning.strategies.ModelParallelStrategy",
}
# Lightning's DeepSpeedStrategy defaults for the ZeRO section, kept as the run's values.
ZERO_DEFAULTS: dict[str, Any] = {
    "contiguous_gradients": True,
    "overlap_comm": True,
    "allgather_partitions": True,
    "reduce_scatter": True,
    "allgather_bucket_size": 200_000_000,
    "reduce_bucket_size": 200_000_000,
    "sub_group_size": 1_000_000_000_000,
}
OFFLOAD_DEVICE = {"device": "cpu", "nvme_path": "/local_nvme"}


def deepspeed_config(plan: HardwarePlan) -> dict[str, Any]:
    """The DeepSpeed config dict of a plan (a fresh dict: Lightning adds keys to it)."""
    zero: dict[str, Any] = {"stage": plan.zero_stage, **ZERO_DEFAULTS}
    if plan.offload_optimizer:
        zero["offload_optimizer"] = {**OFFLOAD_DEVICE, "buffer_count": 4, "pin_memory": False}
    if plan.offload_parameters:
        zero["offload_param"] = {
            **OFFLOAD_DEVICE,
            "buffer_count": 5,
            "buffer_size": 100_000_000,
            "max_in_cpu": 1_000_000_000,
            "pin_memory": False,
        }
    return {
        "train_micro_batch_size_per_gpu": plan.micro_batch_size,
        "zero_allow_untested_optimizer": True,
        "zero_optimization": zero,
        "activation_checkpointing": {
            "partition_activations": False,
            "cpu_checkpointing": False,
            "contiguous_memory_optimization": False,
            "synchronize_checkpoint_boundary": False,
        },
        "aio": {
            "block_size": 1_048_576,
            "queue_depth": 8,
            "single_submit": False,
            "overlap_events": True,
            "thread_count": 1,
        },
    }


def fsdp_settings(plan: HardwarePlan) -> dict[str, Any]:
    """ModelParallelStrategy's arguments for FSDP2 (fully_shard per block, see strategies)."""
    return {
        "data_parallel_size": plan.world_size,
        "tensor_parallel_size": 1,
        "save_distributed_checkpoint": False,  # one checkpoint file, written by rank 0
    }


def strategy_arguments(plan: HardwarePlan) -> dict[str, Any]:
    """The keyword arguments of the plan's strategy class (empty for strategy=auto)."""
    kwargs: dict[str, Any] = {}
    if plan.strategy in MULTI_PROCESS_STRATEGIES and plan.process_group_backend is not None:
        kwargs["process_group_backend"] = plan.process_group_backend
    if plan.strategy == "deepspeed":
        kwargs["config"] = deepspeed_config(plan)
        kwargs["exclude_frozen_parameters"] = True  # adapter checkpoints stay adapter-sized
    if plan.strategy == "fsdp":
        kwargs |= fsdp_settings(plan)
    return kwargs
