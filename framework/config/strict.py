"""Checks that make the schema strict and total: no key outside it, every value resolvable,
finite and within the constraints no single field's type can express.

Hydra adds `+key=value` overrides to typed nodes with the struct flag lifted, so a typo such as
`+method.rank=16` would compose and be ignored; these checks refuse it before any write.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from framework.errors import allowed_list, did_you_mean

# Values that resolve only inside a running Hydra job (output dir, timestamps).
RUNTIME_INTERPOLATIONS = ("${hydra:", "${now:")
MAX_SEED = 2**32 - 1  # numpy's and Lightning's seed range
# Whole numbers whose type admits values no run can use (null stays allowed where typed so).
INT_RANGES = {
    "run.seed": (0, MAX_SEED),
    "dataset.shuffle_seed": (0, MAX_SEED),
    "run.checkpoint_every_n_steps": (1, 10**9),
    "trainer.log_every_n_steps": (1, 10**9),
    "run.sweep_trials": (1, 10**6),
    "dataset.num_workers": (0, 256),
    "dataset.val_max_rows": (1, 10**9),
    "dataset.limit": (2, 10**12),
}
NAME_PATTERN = re.compile(r"^[A-Za-z0-9._=,+@-]+(/[A-Za-z0-9._=,+@-]+)*$")


def leaves(node: Any, path: str = "", into_lists: bool = True) -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every leaf of a plain container (lists are leaves unless
    into_lists, which yields key[i] for each item)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else str(key), into_lists)
    elif isinstance(node, list) and into_lists:
        for index, value in enumerate(node):
            yield from leaves(value, f"{path}[{index}]", into_lists)
    else:
        yield path, node


def unknown_key_problems(cfg: DictConfig) -> list[str]:
    """Keys present in a typed node that its schema does not declare (added with `+`)."""
    found: list[str] = []
    _unknown_keys(cfg, "", found)
    return found


def _unknown_keys(node: DictConfig, path: str, found: list[str]) -> None:
    schema = OmegaConf.get_type(node)
    fields = (
        {f.name for f in dataclasses.fields(schema)}
        if schema and dataclasses.is_dataclass(schema)
        else None
    )
    for raw_key in node.keys():
        key = str(raw_key)
        if not path and key == "hydra":
            continue
        full = f"{path}.{key}" if path else str(key)
        if fields is not None and key not in fields:
            allowed = sorted(fields)
            where = f"'{path}'" if path else "the top level"
            found.append(
                f"{full}: unknown key (no key '{key}' in {where}). "
                f"Allowed: {allowed_list(allowed)}." + did_you_mean(str(key), allowed)
            )
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing():
            _unknown_keys(child, full, found)


def resolution_problems(cfg: DictConfig) -> list[str]:
    """Interpolations that do not resolve (a missing key, a cycle) and required values that
    are missing (a group deleted with `~`), each naming its key."""
    raw = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    found = []
    for key, value in leaves(raw, ""):
        if key.startswith("hydra.") or (
            isinstance(value, str) and any(m in value for m in RUNTIME_INTERPOLATIONS)
        ):
            continue
        try:
            value_now = OmegaConf.select(
                cfg, key, throw_on_missing=True, throw_on_resolution_failure=True
            )
            found += _shape_problem(cfg, key, value, value_now)
        except MissingMandatoryValue:
            found.append(_missing(key))
        except (OmegaConfBaseException, RecursionError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            if isinstance(error, RecursionError):
                reason = "the interpolation refers to itself (a cycle)"
            found.append(f"{key}={value}: cannot be resolved: {reason}")
    return found


def _shape_problem(cfg: DictConfig, key: str, raw: Any, resolved: Any) -> list[str]:
    """An interpolation into a mapping or list key must resolve to a mapping or list."""
    if not (isinstance(raw, str) and "${" in raw) or "." not in key or "[" in key:
        return []
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key)
    node = parent._get_node(leaf) if isinstance(parent, DictConfig) else None
    for kind, name in ((DictConfig, "a mapping"), (ListConfig, "a list")):
        if isinstance(node, kind) and not isinstance(
            resolved, (kind, dict if kind is DictConfig else list)
        ):
            return [f"{key}={raw} resolves to {resolved!r}, which is not {name}"]
    return []


def _missing(key: str) -> str:
    group, _, leaf = key.partition(".")
    if leaf == "name":  # every preset names itself: this config is a base, or nothing at all
        return (
            f"{key} is missing: the selected {group} config is not a preset (a base such as "
            f"conf/{group}/_*.yaml, or the group was deleted); pick one (`make presets`)"
        )
    return f"{key}: no value (a required key is missing; was its group deleted?)"


def finite_problems(cfg: DictConfig) -> list[str]:
    """Every float in the config is finite (nan and inf pass a type check, not a run)."""
    container = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    return [
        f"{key}={value} is not a finite number"
        for key, value in leaves(container, "")
        if isinstance(value, float) and not math.isfinite(value) and not key.startswith("hydra.")
    ]


def cross_field_problems(cfg: DictConfig) -> list[str]:
    """Constraints between fields, and ranges the schema's types cannot express."""
    found = []
    betas = list(cfg.optim.betas)
    if len(betas) != 2 or not all(0.0 <= float(b) < 1.0 for b in betas):
        found.append(f"optim.betas={betas} must be two numbers in [0, 1), e.g. [0.9, 0.999]")
    if not float(cfg.optim.eps) > 0:
        found.append(f"optim.eps={cfg.optim.eps} must be greater than 0 (e.g. 1e-8)")
    if not 0.0 <= float(cfg.optim.momentum) < 1.0:
        found.append(f"optim.momentum={cfg.optim.momentum} must be in [0, 1)")
    for key, (low, high) in INT_RANGES.items():
        value = OmegaConf.select(cfg, key)
        if value is not None and not low <= int(value) <= high:
            found.append(f"{key}={value} is out of range ({low} to {high:,})")
    epochs = cfg.trainer.max_epochs
    if epochs is not None and int(epochs) != -1 and not 1 <= int(epochs) <= 10**6:
        found.append(f"trainer.max_epochs={epochs} is out of range (1 to 1,000,000; -1 or null)")
    clip = cfg.trainer.gradient_clip_val
    if clip is not None and float(clip) < 0:
        found.append(f"trainer.gradient_clip_val={clip} must be at least 0 (or null: no clipping)")
    found += _batching_problems(cfg.dataset, str(cfg.task.name))
    return found + _random_init_problems(cfg.model.random_init)


def _batching_problems(dataset: DictConfig, task: str) -> list[str]:
    """Packing is the causal LM encoder's (other tasks encode one row per sequence), and it
    leaves nothing for length grouping to do (every packed sequence is max_length long)."""
    from framework.tasks.registry import TASKS

    found = []
    spec = TASKS.get(task)
    if dataset.packing and spec is not None and spec.encoder != "CausalEncoder":
        found.append(
            f"dataset.packing=true does not apply to task={task} (it encodes one row per "
            "sequence; packing is for causal_lm): set dataset.packing=false"
        )
    if dataset.packing and dataset.group_by_length:
        found.append(
            "dataset.group_by_length=true with dataset.packing=true: packed sequences are all "
            "dataset.max_length long, so there is nothing to group; set one of them to false"
        )
    return found


def _random_init_problems(init: DictConfig | None) -> list[str]:
    """The shape of a randomly initialised model must be buildable."""
    if init is None:
        return []
    found = [
        f"model.random_init.{key}={init[key]} is out of range (at least 1)"
        for key in map(str, init.keys())
        if int(init[key]) < 1
    ]
    if found:
        return found
    if int(init.hidden_size) % int(init.num_heads):
        found.append(
            f"model.random_init.num_heads={init.num_heads} does not divide "
            f"model.random_init.hidden_size={init.hidden_size}"
        )
    elif int(init.num_heads) % int(init.num_kv_heads):
        found.append(
            f"model.random_init.num_kv_heads={init.num_kv_heads} does not divide "
            f"model.random_init.num_heads={init.num_heads}"
        )
    return found


def name_problems(cfg: DictConfig) -> list[str]:
    """run.name becomes a folder under paths.output_dir: no traversal, no control characters."""
    name = str(cfg.run.name)
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or not NAME_PATTERN.match(name):
        return [
            f"run.name={name!r} is not a safe folder name: use letters, digits and . _ - = , + @ "
            "(sub-folders with /), without '..', a leading '/', spaces or control characters"
        ]
    return []


def dataset_key_problems(cfg: DictConfig) -> list[str]:
    """Keys that do not apply to the chosen dataset preset (they would be ignored)."""
    ds = cfg.dataset
    if ds.path is not None and str(ds.source) not in ("file", "jsonl", "disk", "hub"):
        return [
            f"dataset.path={ds.path} does not apply to dataset={ds.name} (a bundled corpus, "
            f"source={ds.source}); to train on a file use dataset=jsonl dataset.path={ds.path} "
            "(or dataset=file for csv/parquet/json)"
        ]
    return []


AUTO_LR = "auto"  # optim.lr=auto: the LR finder picks the learning rate before training


def is_auto_lr(value: Any) -> bool:
    """Whether optim.lr asks for the LR finder (the string `auto`)."""
    return isinstance(value, str) and value == AUTO_LR


def lr_problems(cfg: DictConfig) -> list[str]:
    """optim.lr is typed Any so it can hold `auto`: any other value must be a number."""
    value = cfg.optim.lr
    if is_auto_lr(value) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return []
    return [
        f"optim.lr={value!r} must be a float (e.g. optim.lr=0.0002) or auto (the LR finder "
        "picks it before training: optim.lr=auto)"
    ]


def strict_problems(cfg: DictConfig) -> list[str]:
    """Unknown keys and unresolvable values first: later checks read values."""
    found = unknown_key_problems(cfg) + resolution_problems(cfg)
    if found:
        return found
    found = finite_problems(cfg) + lr_problems(cfg)
    return found + cross_field_problems(cfg) + name_problems(cfg) + dataset_key_problems(cfg)
