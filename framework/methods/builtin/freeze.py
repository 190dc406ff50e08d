"""Freeze tuning: only the last N transformer blocks (and the final norm) train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.errors import UserError
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.registry import register_method
from framework.models.architectures import BLOCK_LAYOUTS, block_layout
from framework.tasks.registry import TASK_NAMES

if TYPE_CHECKING:
    import torch


@dataclass
class FreezeConfig(MethodConfig):
    """How many of the last blocks train, and whether the final norm trains with them."""

    trainable_blocks: int = 2
    train_final_norm: bool = True


@register_method("freeze")
class Freeze(Method[FreezeConfig]):
    """Partial fine-tuning of the top of the network; the run saves the whole model."""

    config_class = FreezeConfig
    capabilities = Capabilities(
        mergeable=False,
        produces_adapter=False,
        task_types=TASK_NAMES,
        targets="none",
        description="the last N transformer blocks (+ final norm) train, the rest is frozen",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        blocks = self.config.trainable_blocks
        found = []
        if blocks < 1:
            found.append(f"method.trainable_blocks={blocks} is out of range (at least 1)")
        if ctx.num_layers and blocks > ctx.num_layers:
            found.append(
                f"method.trainable_blocks={blocks} is more than the model's {ctx.num_layers} blocks"
            )
        if block_layout(ctx.architecture) is None:
            found.append(
                f"method=freeze does not know where architecture '{ctx.architecture}' keeps its "
                f"blocks (known: {', '.join(sorted(BLOCK_LAYOUTS))})"
            )
        return found

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        layout = block_layout(ctx.architecture)
        if layout is None:
            raise UserError(f"method=freeze: unknown architecture '{ctx.architecture}'")
        blocks = model.get_submodule(layout.blocks)
        count, wanted = len(blocks), self.config.trainable_blocks  # type: ignore[arg-type]
        if wanted > count:
            raise UserError(f"method.trainable_blocks={wanted} but the model has {count} blocks")
        model.requires_grad_(False)
        for index in range(count - wanted, count):
            blocks[index].requires_grad_(True)  # type: ignore[index]
        if self.config.train_final_norm and layout.final_norm:
            model.get_submodule(layout.final_norm).requires_grad_(True)
        return model
