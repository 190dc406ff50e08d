"""The `method` group: the registered method with its typed config, and what it applies to."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.methods.base import ApplyContext, Method
from framework.methods.registry import get_method
from framework.models.architectures import target_modules_for


def build_method(method_cfg: DictConfig) -> Method[Any]:
    """Instantiate the registered method with its typed config object."""
    entry = get_method(str(method_cfg.name))
    config = OmegaConf.to_object(method_cfg)
    if not isinstance(config, entry.cls.config_class):
        config = entry.cls.config_class(**OmegaConf.to_container(method_cfg))  # type: ignore[arg-type]
    return entry.cls(config)


def apply_context(cfg: DictConfig) -> ApplyContext:
    """What the method needs to know about the model, from config alone."""
    init = cfg.model.random_init
    architecture = str(cfg.model.architecture)
    kind = get_method(str(cfg.method.name)).cls.capabilities.targets
    return ApplyContext(
        architecture=architecture,
        task=str(cfg.task.name),
        target_modules=target_modules_for(architecture, list(cfg.model.target_modules), kind),
        num_layers=int(init.num_layers) if init is not None else 0,
        feedforward_modules=target_modules_for(architecture, [], "feedforward"),
        total_steps=int(cfg.trainer.max_steps),
    )
