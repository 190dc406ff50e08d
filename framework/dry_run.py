"""`run.dry_run=true`: print what the run would do and every problem, without loading weights."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from framework.builders.method import apply_context, build_method
from framework.hardware.checks import preset_problems
from framework.hardware.memory import (
    MemoryEstimate,
    ModelShape,
    Workload,
    adapter_parameters,
    estimate_memory,
    model_shape,
    render_estimate,
)
from framework.hardware.plan import HardwarePlan, quantization_for
from framework.hardware.ranks import RUN_DIR_ENV
from framework.hardware.settings import (
    STRATEGY_CLASSES,
    deepspeed_config,
    fsdp_settings,
    strategy_arguments,
)
from framework.methods.base import ApplyContext, Method


def render_dry_run(cfg: DictConfig, plan: HardwarePlan, problems: list[str]) -> str:
    """The composed config, the Trainer/strategy (with the DeepSpeed config or FSDP settings
    the run will use), a memory estimate and the problems, as text."""
    method = build_method(cfg.method)
    ctx = apply_context(cfg)
    lines = [
        "# hydratune dry run: nothing was loaded",
        OmegaConf.to_yaml(cfg, resolve=True).rstrip(),
        "",
        "# what the run would do",
        f"method: {method.name} ({method.capabilities.description})",
        f"target modules: {', '.join(ctx.target_modules) or '(none by name)'}",
        f"capabilities: {capability_summary(method)}",
    ]
    if preset_problems(cfg.hardware):
        lines.append("trainer: not planned (the hardware preset has problems, below)")
    else:
        lines += trainer_lines(cfg, method, plan)
        lines += strategy_settings_lines(plan)
        lines += memory_lines(cfg, method, ctx, plan)
    lines.append("problems: " + ("none" if not problems else f"{len(problems)}"))
    lines += [f"  - {p}" for p in problems]
    return "\n".join(lines)


def capability_summary(method: Method[Any]) -> str:
    """One line: what the run saves, whether it merges, how the base is loaded."""
    caps, spec = method.capabilities, method.quantization()
    saves = "adapter (PEFT format)" if caps.produces_adapter else "the whole model"
    base = "full precision" if spec is None else f"{spec.bits}-bit (bitsandbytes)"
    if spec is not None and spec.bits == 4:
        base = f"4-bit {spec.quant_type} (bitsandbytes, compute {spec.compute_dtype})"
    merge = "mergeable" if caps.mergeable else "not mergeable"
    return f"saves {saves}; {merge}; base loaded {base}"


def trainer_lines(cfg: DictConfig, method: Method[Any], plan: HardwarePlan) -> list[str]:
    """The Trainer arguments and the strategy object that hardware.trainer.trainer_kwargs builds."""
    shown = {
        k: "<deepspeed config below>" if k == "config" else v
        for k, v in strategy_arguments(plan).items()
    }
    kwargs = ", ".join(f"{k}={v}" for k, v in shown.items())
    strategy = STRATEGY_CLASSES.get(plan.strategy, "auto (Lightning picks)")
    optimizer = "torch.optim.AdamW" if cfg.optim.name == "adamw" else "torch.optim.SGD"
    if plan.offload_optimizer:
        optimizer = "deepspeed.ops.adam.DeepSpeedCPUAdam (ZeRO offload steps on the CPU)"
    lines = [
        f"trainer: accelerator={plan.accelerator} devices={plan.devices} "
        f"num_nodes={plan.num_nodes} precision={plan.precision} "
        f"max_steps={cfg.trainer.max_steps}",
        plan.machine.describe(),
        f"strategy: {strategy}" + (f"({kwargs})" if kwargs else ""),
        f"processes: {plan.world_size}; global batch {plan.world_size * cfg.dataset.batch_size}"
        f" rows ({plan.world_size} x dataset.batch_size={cfg.dataset.batch_size})"
        + ("; one run dir, written by rank 0" if plan.world_size > 1 else ""),
        f"optimizer: {optimizer}",
    ]
    if plan.num_nodes > 1 and RUN_DIR_ENV not in os.environ:
        lines.append(
            f"note: every node runs train.py itself; export {RUN_DIR_ENV}=<shared path> (or "
            "pass hydra.run.dir=) so all ranks write one run dir"
        )
    spec, adjusted = method.quantization(), quantization_for(method.quantization(), plan)
    if spec is not None and adjusted is not None and adjusted != spec:
        lines.append(
            f"quantization: bnb_4bit_quant_storage={adjusted.quant_storage} "
            f"(the compute dtype, so {plan.strategy} can shard the 4-bit weights)"
        )
    return lines


def strategy_settings_lines(plan: HardwarePlan) -> list[str]:
    """The exact DeepSpeed config dict (hardware.settings.deepspeed_config) or FSDP settings
    the strategy is built with, as JSON."""
    if plan.strategy == "deepspeed":
        return [
            "deepspeed config (json; Lightning adds gradient_accumulation_steps, "
            "gradient_clipping and fp16/bf16 from the Trainer at setup):",
            json.dumps(deepspeed_config(plan), indent=2),
        ]
    if plan.strategy == "fsdp":
        return [
            "sharding: FSDP2 fully_shard per transformer block, then the root module",
            "fsdp settings (json, ModelParallelStrategy arguments):",
            json.dumps(fsdp_settings(plan), indent=2),
        ]
    return []


def _config_json(cfg: DictConfig) -> Path | None:
    """config.json of the model, if on disk (local folder, or the converted GGUF cache)."""
    from framework.errors import UserError
    from framework.models.source import resolve_source

    m = cfg.model
    try:
        source = resolve_source(str(m.name), m.hub_id, m.local_path, m.gguf_package, m.gguf_file)
    except UserError:
        return None
    folder = (
        Path(source.location)
        if source.kind == "local"
        else Path(str(cfg.paths.cache_dir)) / "models" / source.cache_key
    )
    found = folder / "config.json"
    return found if found.is_file() else None


def workload(cfg: DictConfig, method: Method[Any], plan: HardwarePlan, trainable: int) -> Workload:
    """The flat inputs of the memory estimate, from the config and the resolved plan."""
    caps, spec = method.capabilities, method.quantization()
    config = method.config
    return Workload(
        dtype=str(cfg.model.dtype),
        trainable=trainable,
        adapter=caps.produces_adapter,
        quant_bits=spec.bits if spec else None,
        double_quant=spec.double_quant if spec else True,
        optimizer=str(cfg.optim.name),
        momentum=float(cfg.optim.momentum),
        batch_size=int(cfg.dataset.batch_size),
        eval_batch_size=int(cfg.dataset.eval_batch_size),
        seq_len=int(cfg.dataset.max_length),
        gradient_checkpointing=bool(getattr(config, "gradient_checkpointing", False)),
        accelerator=plan.accelerator,
        precision=plan.precision,
        world_size=plan.world_size,
        zero_stage=plan.zero_stage,
        offload_optimizer=plan.offload_optimizer,
        offload_parameters=plan.offload_parameters,
        fsdp=plan.strategy == "fsdp",
        loads_file=cfg.model.random_init is None,
    )


def memory_estimate(
    cfg: DictConfig, method: Method[Any], ctx: ApplyContext, plan: HardwarePlan
) -> tuple[ModelShape, Workload, MemoryEstimate] | None:
    """The shape, workload and per-device estimate of the run (None: unknown model size)."""
    shape = model_shape(cfg.model, Path(str(cfg.paths.cache_dir)), _config_json(cfg))
    if shape is None:
        return None
    trainable = shape.total_params
    if method.capabilities.produces_adapter:
        rank = getattr(method.config, "r", None)
        trainable = adapter_parameters(shape, rank, list(ctx.target_modules))
    work = workload(cfg, method, plan, trainable)
    return shape, work, estimate_memory(shape, work)


def memory_lines(
    cfg: DictConfig, method: Method[Any], ctx: ApplyContext, plan: HardwarePlan
) -> list[str]:
    """The per-device memory estimate (docs/benchmarks.md compares it with measurements)."""
    found = memory_estimate(cfg, method, ctx, plan)
    if found is None:
        return ["memory estimate: unknown model size (no config.json on disk, no model.shape)"]
    return render_estimate(*found)
