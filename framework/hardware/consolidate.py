"""The trained model whole on rank 0, gathered from ZeRO-3 or FSDP2 shards (every rank calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from pytorch_lightning.strategies import DeepSpeedStrategy, ModelParallelStrategy

if TYPE_CHECKING:
    from framework.training.module import FineTuneModule


def gathered_state_dict(strategy: Any, net: torch.nn.Module) -> dict[str, torch.Tensor] | None:
    """The full state dict on rank 0 (empty elsewhere) when parameters are sharded; None when
    every rank already holds them whole (single process, DDP, ZeRO-1/2). A collective: every
    rank must call it."""
    if isinstance(strategy, DeepSpeedStrategy) and strategy.zero_stage_3:
        import deepspeed

        with deepspeed.zero.GatheredParameters(list(net.parameters()), modifier_rank=None):
            if not strategy.is_global_zero:
                return {}
            return {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    if isinstance(strategy, ModelParallelStrategy):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return dict(get_model_state_dict(net, options=options))  # type: ignore[arg-type]
    return None


def whole_model(strategy: Any, module: FineTuneModule) -> torch.nn.Module | None:
    """On rank 0 the trained model with every parameter whole; None on the other ranks.

    Sharded runs rebuild an unsharded copy (the frozen base is rebuilt exactly as before:
    same file or seed) and load the gathered trainable weights into it; the others return
    the trained model itself.
    """
    state = gathered_state_dict(strategy, module.net)
    if not strategy.is_global_zero:
        return None
    if state is None:
        return module.net
    trainable = {name for name, p in module.net.named_parameters() if p.requires_grad}
    model = module.build_model()
    loaded = model.load_state_dict({k: state[k] for k in trainable}, strict=False)
    if loaded.unexpected_keys:
        raise RuntimeError(f"gathered weights do not fit the model: {loaded.unexpected_keys}")
    return model
