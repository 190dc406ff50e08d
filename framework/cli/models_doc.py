"""`python -m framework.cli.models_doc` (make models-doc): docs/models.md, one row per model
preset: family, chat template, the methods whose checks pass, and the dry run's memory estimate
on one GPU (single_gpu) for full fine-tuning, LoRA and QLoRA."""

from __future__ import annotations

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from framework.hardware.memory import MemoryEstimate, ModelShape, Workload

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "models.md"
LENGTH, BATCH = 512, 4  # the workload the memory columns assume
COMMON = [
    "hardware=single_gpu",
    f"dataset.max_length={LENGTH}",
    f"dataset.batch_size={BATCH}",
    "paths.run_dir=/tmp/models-doc",
]
MEMORY_METHODS = ("full", "lora", "qlora")


def _compose(overrides: list[str]) -> DictConfig:
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[*COMMON, *overrides])


def _estimate(cfg: DictConfig) -> tuple[ModelShape, Workload, MemoryEstimate] | None:
    """The dry run's shape, workload and per-device estimate on one bf16 GPU."""
    from framework.builders.method import apply_context, build_method
    from framework.dry_run import memory_estimate
    from framework.hardware.machine import Machine
    from framework.hardware.plan import HardwareSpec, resolve_plan

    plan = resolve_plan(HardwareSpec.of_run(cfg), Machine(gpus=1, bf16=True))
    return memory_estimate(cfg, build_method(cfg.method), apply_context(cfg), plan)


def _shape(shape: ModelShape | None) -> str:
    """Layers x hidden size, attention / key-value heads and parameters, as the estimate sees
    them (the preset's shape, its local config.json, or its random_init)."""
    if shape is None:
        return "?"
    return (
        f"{shape.layers} x {shape.hidden}, {shape.heads}/{shape.kv_heads} heads, "
        f"{shape.total_params / 1e9:.2f}B"
    )


def _methods(preset: str, names: list[str], task: list[str]) -> tuple[list[str], str]:
    """The methods whose combination checks pass on one GPU, and the first refusal."""
    from framework.config.validate import all_problems
    from framework.hardware.machine import Machine
    from framework.hardware.plan import HardwareSpec, resolve_plan

    ok, refused = [], ""
    for name in names:
        cfg = _compose([f"model={preset}", f"method={name}", *task])
        plan = resolve_plan(HardwareSpec.of_run(cfg), Machine(gpus=1, bf16=True))
        problems = [p for p in all_problems(cfg, plan) if "local copy" not in p]
        if problems:
            refused = refused or problems[-1]  # the model checks' reason comes last
        else:
            ok.append(name)
    return ok, refused


def row(preset: str, names: list[str]) -> str:
    """One table row for a model preset (an encoder with a classification task)."""
    from framework.models.architectures import ENCODER_ARCHITECTURES

    model = _compose([f"model={preset}"]).model
    task = ["dataset=wordnet_pos"] if model.architecture in ENCODER_ARCHITECTURES else []
    ok, refused = _methods(preset, names, task)
    found = [_estimate(_compose([f"model={preset}", f"method={m}", *task])) for m in MEMORY_METHODS]
    memory = ["?" if f is None else f"{f[2].peak / 2**30:.1f}" for f in found]
    shape = _shape(found[0][0] if found[0] else None)
    methods = f"{len(ok)}/{len(names)}" if ok else f"refused: {refused}"
    return (
        f"| `{preset}` | {model.architecture} | {model.hub_id or 'packaged'} | {model.license} "
        f"| {shape} | {model.chat_template or 'its own'} | {methods} "
        f"| {' | '.join(memory)} |"
    )


def document() -> str:
    """docs/models.md as text."""
    from framework.config.schema import register_schemas
    from framework.methods.discovery import discover_methods
    from framework.methods.registry import method_names

    register_schemas()
    discover_methods(ROOT / "plugins")
    names = method_names()
    presets = sorted(
        p.stem
        for p in (ROOT / "conf" / "model").glob("*.yaml")
        if not p.stem.startswith(("_", "tiny"))
    )
    lines = [
        "# Model presets",
        "",
        "Written by `python -m framework.cli.models_doc` (`make models-doc`); do not edit by hand.",
        "",
        "Methods: how many registered methods pass every combination check for the preset on "
        "one GPU (`hardware=single_gpu`; the weights need not be present). Memory: the dry "
        f"run's peak estimate per GPU in GiB at dataset.max_length={LENGTH}, "
        f"dataset.batch_size={BATCH}, bf16 (`python train.py model=<preset> method=<m> "
        "hardware=single_gpu run.dry_run=true` prints the whole estimate). Chat templates: "
        "every family is checked by tests/test_model_families.py (masks, training prompt == "
        "inference prompt, EOS). Shape: the preset's `shape` (its config.json), or the "
        "local folder's config.json.",
        "",
        "| preset | architecture | source | licence | shape (layers x hidden, heads/kv, "
        "parameters) | chat template | methods | full | LoRA | QLoRA |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(preset, names) for preset in presets]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Write docs/models.md (or print it with --print)."""
    text = document()
    if "--print" in sys.argv:
        print(text, end="")
        return
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"{OUTPUT}: written")


if __name__ == "__main__":
    main()
