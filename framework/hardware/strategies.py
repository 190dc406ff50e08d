"""The Lightning strategy objects of a plan: DDP, DeepSpeed (on the CPU too), FSDP2."""

from __future__ import annotations

import argparse
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any

import torch
from pytorch_lightning.strategies import DDPStrategy, DeepSpeedStrategy, ModelParallelStrategy

from framework.hardware.plan import HardwarePlan
from framework.hardware.settings import strategy_arguments


class CPUCapableDeepSpeedStrategy(DeepSpeedStrategy):
    """Lightning's DeepSpeedStrategy, minus the check that refuses a CPU accelerator.

    DeepSpeed itself runs ZeRO 1/2/3 and CPU offload on the CPU over gloo; Lightning's
    strategy refuses any accelerator but CUDA and assumes CUDA device indices. On a GPU
    this class behaves exactly like its parent. On the CPU it overrides:

    - setup_environment: skip the CUDA-only check (kept on GPUs);
    - setup_distributed: CPU devices have no index to validate;
    - _setup_model_and_optimizer and _initialize_deepspeed_inference: DeepSpeed wants a device
      rank, and a CPU device has no index; pass the local rank instead.

    model_sharded_context is also overridden: under ZeRO-3 the base model is built whole and
    partitioned by deepspeed.initialize, because building a transformers model inside
    deepspeed.zero.Init crashes (transformers 5.x `_init_weights` on size-0 tensors).
    """

    @property
    def _on_cpu(self) -> bool:
        return self.root_device.type == "cpu"

    def setup_environment(self) -> None:
        if not self._on_cpu:
            super().setup_environment()
            return
        DDPStrategy.setup_environment(self)  # the parent's setup minus its CUDA-only check

    def setup_distributed(self) -> None:
        if not self._on_cpu:
            super().setup_distributed()
            return
        from lightning_fabric.utilities.seed import reset_seed

        reset_seed()
        self.set_world_ranks()
        self._init_deepspeed_distributed()

    def _setup_model_and_optimizer(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        lr_scheduler: Any = None,
    ) -> tuple[Any, torch.optim.Optimizer]:
        if not self._on_cpu:
            return super()._setup_model_and_optimizer(model, optimizer, lr_scheduler)
        import deepspeed

        engine, ds_optimizer, _, _ = deepspeed.initialize(
            args=argparse.Namespace(device_rank=self.local_rank),
            config=self.config,
            model=model,
            model_parameters=[p for p in model.parameters() if p.requires_grad],
            optimizer=optimizer,
            lr_scheduler=lr_scheduler,
            dist_init_required=False,
        )
        return engine, ds_optimizer

    def _initialize_deepspeed_inference(self, model: torch.nn.Module) -> None:
        if not self._on_cpu:
            super()._initialize_deepspeed_inference(model)
            return
        import deepspeed
        from pytorch_lightning.strategies.deepspeed import remove_module_hooks

        config = self.config if isinstance(self.config, dict) else {}
        inference_config: dict[str, Any] = {"train_micro_batch_size_per_gpu": 1}
        inference_config |= {k: config[k] for k in ("fp16", "bf16") if k in config}
        if self.zero_stage_3:
            keys = ("zero_allow_untested_optimizer", "zero_optimization")
            inference_config |= {k: config[k] for k in keys}
        remove_module_hooks(model)
        engine, _, _, _ = deepspeed.initialize(
            args=argparse.Namespace(device_rank=self.local_rank),
            config=inference_config,
            model=model,
            optimizer=None,
            lr_scheduler=None,
            model_parameters=[],
            dist_init_required=False,
        )
        self.model = engine

    @contextmanager
    def model_sharded_context(self) -> Generator[None, None, None]:
        yield  # build whole; deepspeed.initialize partitions it (see the class docstring)


def build_strategy(plan: HardwarePlan) -> Any:
    """The Lightning strategy object (or name) for a resolved hardware plan; DeepSpeed gets
    `config=settings.deepspeed_config(plan)`, the dict the dry run prints."""
    classes = {
        "ddp": DDPStrategy,
        "deepspeed": CPUCapableDeepSpeedStrategy,
        "fsdp": ModelParallelStrategy,
    }
    if plan.strategy not in classes:
        return plan.strategy
    return classes[plan.strategy](**strategy_arguments(plan))


def shard_with_fsdp2(model: torch.nn.Module, mesh: Any) -> None:
    """FSDP2: shard every transformer block, then the root (embeddings, norm, head)."""
    from torch.distributed.fsdp import fully_shard

    get_base = getattr(model, "get_base_model", None)  # a PEFT wrapper: its transformers model
    base = get_base() if callable(get_base) else model
    block_names = set(getattr(base, "_no_split_modules", None) or ())
    for module in model.modules():
        if type(module).__name__ in block_names:
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)
