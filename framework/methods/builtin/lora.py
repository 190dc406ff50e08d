"""LoRA: low-rank update matrices beside frozen linear layers (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import (
    method_range_problems,
    peft_task_type,
    resolve_targets,
    target_module_problems,
    wrap_with_peft,
)
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES

if TYPE_CHECKING:
    import torch


@dataclass
class LoraConfig(MethodConfig):
    """LoRA hyper-parameters (names follow peft.LoraConfig)."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=list)  # empty: model's default
    bias: str = "none"
    use_rslora: bool = False


LoraConfigT = TypeVar("LoraConfigT", bound=LoraConfig)


class LoraFamily(Method[LoraConfigT]):
    """Shared apply() for LoRA and its variants (DoRA, rsLoRA, QLoRA, ...)."""

    config_class = LoraConfig
    use_dora = False

    def peft_kwargs(self, ctx: ApplyContext) -> dict[str, Any]:
        cfg = self.config
        return {
            "r": cfg.r,
            "lora_alpha": cfg.alpha,
            "lora_dropout": cfg.dropout,
            "target_modules": resolve_targets(cfg.target_modules, ctx),
            "bias": cfg.bias,
            "use_rslora": cfg.use_rslora,
            "use_dora": self.use_dora,
            "task_type": peft_task_type(ctx.task),
        }

    def problems(self, ctx: ApplyContext) -> list[str]:
        cfg = self.config
        found = method_range_problems(
            {"r": (cfg.r, 1, 4096), "alpha": (cfg.alpha, 1, 1e6), "dropout": (cfg.dropout, 0, 0.99)}
        )
        if cfg.bias not in ("none", "all", "lora_only"):
            found.append(f"method.bias='{cfg.bias}' is not allowed (allowed: all, lora_only, none)")
        return found + target_module_problems(cfg.target_modules, ctx)

    def starts_as_base(self) -> bool:
        """B starts at zero; trained biases (bias=all|lora_only) change the base in place."""
        return self.capabilities.starts_as_base and self.config.bias == "none"

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import LoraConfig as PeftLoraConfig

        return wrap_with_peft(model, PeftLoraConfig(**self.peft_kwargs(ctx)))


@register_method("lora")
class LoRA(LoraFamily[LoraConfig]):
    """Low-rank adaptation: W + (alpha/r) * B @ A on the target linear layers."""

    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        starts_as_base=True,
        task_types=TASK_NAMES,
        description="low-rank adapters on attention and MLP projections",
    )
