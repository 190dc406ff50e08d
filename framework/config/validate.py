"""Check a composed config and its method x hardware x dataset combination, before loading."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from framework.builders.method import apply_context, build_method
from framework.config.schema import CHOICES
from framework.config.strict import is_auto_lr, strict_problems
from framework.config.task_checks import preference_problems, recipe_problems
from framework.errors import allowed_list, did_you_mean
from framework.hardware.checks import hardware_problems, method_strategy_problems
from framework.hardware.machine import Machine
from framework.hardware.plan import HardwarePlan, HardwareSpec, resolve_plan
from framework.methods.base import ApplyContext, Method
from framework.methods.registry import get_method, method_names
from framework.models.architectures import ENCODER_ARCHITECTURES
from framework.models.checks import model_problems
from framework.models.quantization import spec_problems
from framework.tasks.registry import TASKS, learns_as


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
    ]
    if is_auto_lr(cfg.optim.lr):  # the LR finder's suggestion lies in its own sweep range
        checks = checks[1:]
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
    source, path = str(cfg.dataset.source), cfg.dataset.path
    if source in ("file", "jsonl", "disk", "hub") and not path:
        found.append(f"dataset.path is required when dataset.source={source}")
    elif source in ("file", "jsonl"):
        if not Path(str(path)).expanduser().is_file():
            found.append(f"dataset.path='{path}': no such file")
        else:
            found.extend(data_file_problems(cfg.dataset))
    elif source == "disk" and not Path(str(path)).expanduser().is_dir():
        found.append(f"dataset.path='{path}': no such folder (dataset.source=disk)")
    found.extend(_caught(lambda: model_source_check(cfg)))
    if cfg.dataset.source in ("chatterbot", "chatterbot_prefs") and cfg.dataset.categories:
        found.extend(_caught(lambda: chatterbot_topics_check(list(cfg.dataset.categories))))
    resume = str(cfg.run.resume)
    if resume not in ("auto", "never") and not Path(resume).expanduser().exists():
        found.append(f"run.resume='{resume}': no such checkpoint (allowed: auto, never, a path)")
    elif resume not in ("auto", "never") and not fingerprint_beside(Path(resume).expanduser()):
        found.append(
            f"run.resume='{resume}': not a hydratune checkpoint (no fingerprint.json beside it, "
            "so what it was trained with is unknown); use run.resume=never to start over"
        )
    return found


def fingerprint_beside(checkpoint: Path) -> bool:
    """A hydratune checkpoint has its run's fingerprint.json in the same folder."""
    from framework.training.resume_check import FINGERPRINT_FILE

    return (checkpoint.parent / FINGERPRINT_FILE).is_file()


def _caught(check: Callable[[], object]) -> list[str]:
    from framework.errors import UserError

    try:
        check()
    except UserError as error:
        return [str(error)]
    return []


def model_source_check(cfg: DictConfig) -> None:
    """The model preset's source exists (package installed, folder present, file found)."""
    from framework.models.source import resolve_source

    m = cfg.model
    resolve_source(str(m.name), m.hub_id, m.local_path, m.gguf_package, m.gguf_file)


def chatterbot_topics_check(categories: list[str]) -> None:
    """Every requested chatterbot topic exists."""
    from framework.data.sources import chatterbot_files

    chatterbot_files(categories)


def data_file_problems(dataset: DictConfig) -> list[str]:
    """Parse a local data file fully (cheap) so a bad row stops the run before any dir exists."""
    from framework.builders.data import row_spec, source_spec
    from framework.data.load import load_rows
    from framework.errors import UserError

    try:
        load_rows(source_spec(dataset), row_spec(dataset), str(dataset.on_bad_row))
    except UserError as error:
        return [str(error)]
    return []


def task_problems(cfg: DictConfig) -> list[str]:
    """The dataset's format must be one the task can learn from."""
    task, fmt = str(cfg.task.name), str(cfg.dataset.format)
    spec = TASKS[task]  # a known name: choice_problems ran first
    if spec.generative and str(cfg.model.architecture) in ENCODER_ARCHITECTURES:
        others = [name for name, other in TASKS.items() if not other.generative]
        return [
            f"model={cfg.model.name} is an encoder ({cfg.model.architecture}): task={task} "
            f"needs a decoder. Use task={', '.join(others[:-1])} or {others[-1]} with it"
        ]
    allowed = spec.formats
    if fmt in allowed:
        return []
    return [
        f"task={task} cannot learn from dataset.format={fmt} (dataset={cfg.dataset.name}); "
        f"allowed formats: {allowed_list(allowed)}"
    ]


def combination_problems(
    cfg: DictConfig, method: Method[Any], ctx: ApplyContext, plan: HardwarePlan
) -> list[str]:
    """Method x hardware x dataset x run conflicts declared by the method's capabilities."""
    caps = method.capabilities
    found = list(method.problems(ctx))
    if ctx.task not in caps.task_types and learns_as(ctx.task) not in caps.task_types:
        found.append(
            f"method={method.name} does not support task '{ctx.task}' "
            f"(it supports: {allowed_list(caps.task_types)})"
        )
    found += method_strategy_problems(cfg, method, plan)
    found += quantization_problems(method)
    if cfg.run.merge:
        found += merge_problems(method)
    return found


def quantization_problems(method: Method[Any]) -> list[str]:
    """A quantized base needs bitsandbytes installed and settings it accepts."""
    spec = method.quantization()
    if spec is None:
        return []
    if importlib.util.find_spec("bitsandbytes") is None:
        return [
            f"method={method.name} loads its base {spec.bits}-bit through bitsandbytes, "
            "which is not installed (pip install bitsandbytes)"
        ]
    return spec_problems(spec)


def merge_problems(method: Method[Any]) -> list[str]:
    """run.merge=true with a method whose result cannot be folded into the base weights."""
    caps = method.capabilities
    if caps.mergeable or not caps.produces_adapter:
        return []  # mergeable, or the whole model is saved already (full fine-tuning)
    mergeable = [n for n in method_names() if get_method(n).cls.capabilities.mergeable]
    why = caps.merge_refusal or "its adapter cannot be folded into the base weights"
    return [
        f"run.merge=true is refused for method={method.name}: {why}. Drop run.merge "
        f"(the adapter still loads with PeftModel.from_pretrained) or pick a mergeable "
        f"method ({allowed_list(mergeable)})"
    ]


def optimizer_problems(name: str, plan: HardwarePlan) -> list[str]:
    """bitsandbytes' 8-bit optimizers: paged memory exists on CUDA only, and DeepSpeed/FSDP
    bring their own optimizer state handling."""
    if name not in ("adamw_8bit", "paged_adamw_8bit"):
        return []
    found = []
    if name == "paged_adamw_8bit" and plan.accelerator != "gpu":
        found.append(
            "optim=paged_adamw_8bit needs a CUDA GPU (it pages optimizer state between GPU and "
            f"CPU memory) and this run's hardware is {plan.accelerator}: use optim=adamw_8bit "
            "(or adamw) on the CPU"
        )
    if plan.strategy in ("deepspeed", "fsdp"):
        found.append(
            f"optim={name} is refused with the {plan.strategy} strategy (it shards optimizer "
            "state itself): use optim=adamw, or a ddp/single-device hardware preset"
        )
    return found


def all_problems(cfg: DictConfig, plan: HardwarePlan | None = None) -> list[str]:
    """Every problem in the config; empty means the run may start.

    `plan` is the run's HardwarePlan (framework.run.train resolves it once and passes it);
    without one (checks before launch, tests) it is resolved here on this machine, no torch.
    """
    strict = strict_problems(cfg)
    if strict:  # unknown keys or values that do not resolve: the other checks would trip
        return strict
    found = choice_problems(cfg) + range_problems(cfg)
    found += preference_problems(cfg) if not found else []
    found += task_problems(cfg) + recipe_problems(cfg) if not found else []
    found += file_problems(cfg) + model_problems(cfg)
    if found:
        return found
    if plan is None:
        plan = resolve_plan(HardwareSpec.of_run(cfg), Machine.detect())
    found = hardware_problems(cfg, plan) + optimizer_problems(str(cfg.optim.name), plan)
    if found:
        return found
    method = build_method(cfg.method)
    return combination_problems(cfg, method, apply_context(cfg), plan)
