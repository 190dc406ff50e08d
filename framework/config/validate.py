"""Check a composed config and its method x hardware x dataset combination, before loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.config.schema import CHOICES
from framework.errors import allowed_list, did_you_mean
from framework.methods.base import ApplyContext, Method
from framework.methods.registry import get_method
from framework.models.architectures import target_modules_for


def build_method(method_cfg: DictConfig) -> Method[Any]:
    """Instantiate the registered method with its typed config object."""
    from omegaconf import OmegaConf

    entry = get_method(str(method_cfg.name))
    config = OmegaConf.to_object(method_cfg)
    if not isinstance(config, entry.cls.config_class):
        config = entry.cls.config_class(**OmegaConf.to_container(method_cfg))  # type: ignore[arg-type]
    return entry.cls(config)


def apply_context(cfg: DictConfig) -> ApplyContext:
    """What the method needs to know about the model, from config alone."""
    init = cfg.model.random_init
    return ApplyContext(
        architecture=str(cfg.model.architecture),
        task=str(cfg.dataset.task),
        target_modules=target_modules_for(
            str(cfg.model.architecture), list(cfg.model.target_modules)
        ),
        num_layers=int(init.num_layers) if init is not None else 0,
    )


def choice_problems(cfg: DictConfig) -> list[str]:
    """Values outside each key's allowed set, with a did-you-mean."""
    found = []
    for group, keys in CHOICES.items():
        for key, allowed in keys.items():
            value = cfg[group][key]
            if value not in allowed:
                found.append(
                    f"{group}.{key}='{value}' is not allowed. Allowed: {allowed_list(allowed)}."
                    + did_you_mean(str(value), allowed)
                )
    return found


def range_problems(cfg: DictConfig) -> list[str]:
    """Numbers outside their sensible range."""
    checks = [
        ("optim.lr", cfg.optim.lr, 0.0, 10.0, False),
        ("optim.weight_decay", cfg.optim.weight_decay, 0.0, 10.0, True),
        ("optim.warmup_steps", cfg.optim.warmup_steps, 0, 10**9, True),
        ("trainer.max_steps", cfg.trainer.max_steps, 1, 10**9, True),
        ("trainer.accumulate_grad_batches", cfg.trainer.accumulate_grad_batches, 1, 10**6, True),
        ("dataset.max_length", cfg.dataset.max_length, 8, 10**6, True),
        ("dataset.batch_size", cfg.dataset.batch_size, 1, 10**6, True),
        ("dataset.eval_batch_size", cfg.dataset.eval_batch_size, 1, 10**6, True),
        ("dataset.val_fraction", cfg.dataset.val_fraction, 0.0, 0.9, False),
        ("hardware.num_nodes", cfg.hardware.num_nodes, 1, 10**5, True),
    ]
    found = []
    for key, value, low, high, inclusive_low in checks:
        ok = (low <= value if inclusive_low else low < value) and value <= high
        if not ok:
            bound = "at least" if inclusive_low else "greater than"
            found.append(f"{key}={value} is out of range ({bound} {low}, at most {high})")
    if cfg.dataset.limit is not None and cfg.dataset.limit < 2:
        found.append(f"dataset.limit={cfg.dataset.limit} is out of range (at least 2)")
    return found


def file_problems(cfg: DictConfig) -> list[str]:
    """Missing input files, found before anything is loaded."""
    found = []
    if cfg.dataset.source == "jsonl":
        if not cfg.dataset.path:
            found.append("dataset.path is required when dataset.source=jsonl")
        elif not Path(str(cfg.dataset.path)).expanduser().is_file():
            found.append(f"dataset.path='{cfg.dataset.path}': no such file")
    return found


def combination_problems(cfg: DictConfig, method: Method[Any], ctx: ApplyContext) -> list[str]:
    """Method x hardware x dataset conflicts declared by the method's capabilities."""
    caps = method.capabilities
    found = list(method.problems(ctx))
    if ctx.task not in caps.task_types:
        found.append(
            f"method={method.name} does not support task '{ctx.task}' "
            f"(it supports: {allowed_list(caps.task_types)})"
        )
    if cfg.hardware.strategy in caps.refuses_strategies:
        found.append(
            f"method={method.name} cannot run with hardware.strategy={cfg.hardware.strategy}"
        )
    return found


def all_problems(cfg: DictConfig) -> list[str]:
    """Every problem in the config; empty means the run may start."""
    found = choice_problems(cfg) + range_problems(cfg) + file_problems(cfg)
    if found:
        return found
    method = build_method(cfg.method)
    return combination_problems(cfg, method, apply_context(cfg))
