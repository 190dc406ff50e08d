"""IA3: learned vectors rescaling keys, values and the MLP's inner activations (PEFT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from framework.config.schema import MethodConfig
from framework.methods.base import ApplyContext, Capabilities, Method
from framework.methods.peft_common import peft_task_type, resolve_targets, wrap_with_peft
from framework.methods.registry import register_method
from framework.tasks.registry import TASK_NAMES

if TYPE_CHECKING:
    import torch


@dataclass
class IA3Config(MethodConfig):
    """Which modules IA3 rescales (names follow peft.IA3Config)."""

    target_modules: list[str] = field(default_factory=list)  # empty: keys, values, MLP out
    feedforward_modules: list[str] = field(default_factory=list)  # empty: MLP out among targets
    init_ia3_weights: bool = True


@register_method("ia3")
class IA3(Method[IA3Config]):
    """Infused adapter by inhibiting and amplifying inner activations."""

    config_class = IA3Config
    capabilities = Capabilities(
        mergeable=True,
        quantized_base=True,
        task_types=TASK_NAMES,
        targets="ia3",
        description="one learned scale per key/value channel and per MLP input feature",
    )

    def _feedforward(self, ctx: ApplyContext, targets: list[str]) -> list[str]:
        if self.config.feedforward_modules:
            return list(self.config.feedforward_modules)
        return [m for m in ctx.feedforward_modules if m in targets]

    def problems(self, ctx: ApplyContext) -> list[str]:
        targets = resolve_targets(self.config.target_modules, ctx)
        if not targets:
            return ["method.target_modules is empty and the architecture names no IA3 modules"]
        stray = [m for m in self._feedforward(ctx, targets) if m not in targets]
        if stray:
            return [f"method.feedforward_modules {stray} must also be in method.target_modules"]
        return []

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        from peft import IA3Config as PeftIA3Config

        targets = resolve_targets(self.config.target_modules, ctx)
        config = PeftIA3Config(
            target_modules=targets,
            feedforward_modules=self._feedforward(ctx, targets),
            init_ia3_weights=self.config.init_ia3_weights,
            task_type=peft_task_type(ctx.task),
        )
        return wrap_with_peft(model, config)
