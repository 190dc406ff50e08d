"""LoRA+ as a plugin: LoRA whose B matrices learn `lr_ratio` times faster than A (Hayou 2024)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from framework.methods import ApplyContext, Capabilities, register_method
from framework.methods.builtin.lora import LoraConfig, LoraFamily

if TYPE_CHECKING:
    import torch


@dataclass
class LoraPlusConfig(LoraConfig):
    """LoRA's knobs plus the learning-rate ratio between B and A."""

    lr_ratio: float = 16.0  # lr(B) = lr_ratio * optim.lr; A keeps optim.lr


@register_method("loraplus")
class LoraPlus(LoraFamily[LoraPlusConfig]):
    """LoRA+: the same adapters as LoRA, trained with two learning rates."""

    config_class = LoraPlusConfig
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=("causal_lm", "seq_cls", "token_cls", "qa"),
        description="LoRA with B's learning rate lr_ratio times A's (faster, same adapter)",
    )

    def problems(self, ctx: ApplyContext) -> list[str]:
        found = super().problems(ctx)
        if not 1.0 <= self.config.lr_ratio <= 1024.0:
            found.append(f"method.lr_ratio={self.config.lr_ratio} is out of range (1 to 1024)")
        return found

    def param_groups(self, model: torch.nn.Module, lr: float) -> list[dict[str, Any]]:
        slow, fast = [], []
        for name, param in model.named_parameters():
            if param.requires_grad:
                (fast if ".lora_B." in name else slow).append(param)
        return [{"params": slow}, {"params": fast, "lr": lr * self.config.lr_ratio}]
