"""Base classes for PEFT methods whose config fields pass to a PEFT config class by name."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from framework.methods.base import ApplyContext, ConfigT, Method
from framework.methods.peft_common import (
    method_range_problems,
    peft_task_type,
    resolve_targets,
    target_module_problems,
    wrap_with_peft,
)

if TYPE_CHECKING:
    import torch


class PeftFieldsMethod(Method[ConfigT]):
    """apply() builds `peft.<peft_config>` from the config's fields; problems() checks ranges."""

    peft_config: ClassVar[str] = ""  # name of the PEFT config class (peft is imported lazily)
    renamed: ClassVar[Mapping[str, str]] = {}  # our field name -> PEFT's keyword
    fixed: ClassVar[Mapping[str, Any]] = {}  # PEFT keywords with a value of their own
    ranges: ClassVar[Mapping[str, tuple[float, float]]] = {}  # field -> (low, high) allowed
    not_peft: ClassVar[frozenset[str]] = frozenset({"name"})  # fields PEFT does not take

    def fields(self) -> dict[str, Any]:
        """The config's fields by name (the registry's `name` included)."""
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def problems(self, ctx: ApplyContext) -> list[str]:
        values = self.fields()
        return method_range_problems(
            {key: (values[key], *bounds) for key, bounds in self.ranges.items()}
        )

    def peft_kwargs(self, ctx: ApplyContext) -> dict[str, Any]:
        """Keyword arguments of the PEFT config class."""
        passed = {
            self.renamed.get(key, key): value
            for key, value in self.fields().items()
            if key not in self.not_peft
        }
        return {**self.fixed, **passed, "task_type": peft_task_type(ctx.task)}

    def apply(self, model: torch.nn.Module, ctx: ApplyContext) -> torch.nn.Module:
        import peft

        config_class = getattr(peft, self.peft_config)
        return wrap_with_peft(model, config_class(**self.peft_kwargs(ctx)))


class TargetedPeftMethod(PeftFieldsMethod[ConfigT]):
    """A PeftFieldsMethod whose config has target_modules (empty: the model's default)."""

    not_peft = frozenset({"name", "target_modules"})

    def problems(self, ctx: ApplyContext) -> list[str]:
        return super().problems(ctx) + target_module_problems(self.fields()["target_modules"], ctx)

    def peft_kwargs(self, ctx: ApplyContext) -> dict[str, Any]:
        targets = resolve_targets(self.fields()["target_modules"], ctx)
        return {**super().peft_kwargs(ctx), "target_modules": targets}
