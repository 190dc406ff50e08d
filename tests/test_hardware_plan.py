"""Hardware presets without launching: resolution on a given Machine, strategy settings, checks
before launch, memory estimate, data sharding, DeepSpeed checkpoint folders."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from framework.config.schema import register_schemas
from framework.config.validate import all_problems
from framework.data.sampler import ResumableSampler
from framework.hardware.machine import Machine
from framework.hardware.memory import Workload, estimate_memory, shape_from_preset
from framework.hardware.plan import HardwarePlan, HardwareSpec, quantization_for, resolve_plan
from framework.hardware.settings import deepspeed_config, strategy_arguments
from framework.methods.discovery import discover_methods
from framework.models.quantization import QuantizationSpec
from framework.training.checkpointing import readable
from tests.helpers import ROOT, compose_config

register_schemas()
discover_methods(ROOT / "plugins")
CPU_PRESETS = ("cpu", "cpu_ddp", "zero1", "zero2", "zero2_offload", "zero3", "zero3_offload")
GPU_PRESETS = ("single_gpu", "multi_gpu", "multi_node")


def compose_run(overrides: list[str]) -> DictConfig:
    return compose_config(overrides)


CPU = Machine(gpus=0)


def plan(machine: Machine = CPU, **spec: object) -> HardwarePlan:
    return resolve_plan(HardwareSpec(**spec), machine)  # type: ignore[arg-type]


def test_auto_resolves_to_the_cpu_without_gpus_and_to_every_gpu_with_them() -> None:
    auto = {"accelerator": "auto", "devices": "auto", "strategy": "deepspeed", "zero_stage": 3}
    cpu = plan(CPU, **auto)
    assert (cpu.accelerator, cpu.devices, cpu.precision) == ("cpu", 1, "32-true")
    gpu = plan(Machine(gpus=4), **auto)
    assert (gpu.accelerator, gpu.devices, gpu.precision) == ("gpu", 4, "bf16-mixed")
    old = plan(Machine(gpus=1, bf16=False), accelerator="gpu")
    assert old.precision == "16-mixed"  # a GPU without bf16
    assert plan(devices=2, strategy="ddp", precision="bf16-true").precision == "bf16-true"


def test_multi_node_counts_come_from_the_launcher_environment() -> None:
    auto = {"accelerator": "gpu", "devices": "auto", "num_nodes": "auto", "strategy": "ddp"}
    slurm = Machine(gpus=8, launcher={"SLURM_NNODES": "4", "SLURM_NTASKS_PER_NODE": "8"})
    resolved = plan(slurm, **auto)
    assert (resolved.num_nodes, resolved.devices, resolved.world_size) == (4, 8, 32)
    torchrun = Machine(gpus=8, launcher={"GROUP_WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"})
    resolved = plan(torchrun, **auto)
    assert (resolved.num_nodes, resolved.devices) == (2, 2)
    assert plan(Machine(gpus=8), **auto).num_nodes == 1


def test_machine_detection_reads_the_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_NNODES", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    machine = Machine.detect()
    assert machine.gpus == 0 and machine.launcher["SLURM_NNODES"] == "3"
    assert "SLURM_NNODES=3" in machine.describe()


def test_deepspeed_names_and_lightning_aliases() -> None:
    offload = {"offload_optimizer": True, "offload_parameters": True}
    zero3 = plan(devices=2, strategy="deepspeed", zero_stage=3, **offload)
    assert zero3.strategy_names == ("deepspeed", "deepspeed_stage_3", "deepspeed_stage_3_offload")
    assert zero3.shards_parameters and zero3.offload_optimizer
    alias = plan(devices=2, strategy="deepspeed_stage_2_offload")
    assert (alias.strategy, alias.zero_stage, alias.offload_optimizer) == ("deepspeed", 2, True)
    assert deepspeed_config(alias)["zero_optimization"]["stage"] == 2
    assert not alias.offload_parameters
    fsdp = plan(devices=2, strategy="fsdp")
    assert strategy_arguments(fsdp)["data_parallel_size"] == 2 and fsdp.shards_parameters


@pytest.mark.parametrize("preset", ["zero1", "zero2", "zero2_offload", "zero3", "zero3_offload"])
def test_deepspeed_config_is_what_lightning_would_build(preset: str) -> None:
    """The dict the strategy receives equals Lightning's own defaults for the same settings."""
    from pytorch_lightning.strategies import DeepSpeedStrategy

    resolved = resolve_plan(HardwareSpec.of_run(compose_run([f"hardware={preset}"])), CPU)
    lightning = DeepSpeedStrategy(
        stage=resolved.zero_stage,
        offload_optimizer=resolved.offload_optimizer,
        offload_parameters=resolved.offload_parameters,
        logging_batch_size_per_gpu=resolved.micro_batch_size,
    )
    assert deepspeed_config(resolved) == lightning.config
    assert deepspeed_config(resolved) is not deepspeed_config(resolved)  # Lightning edits it


def test_4bit_storage_follows_the_compute_dtype_only_when_parameters_are_sharded() -> None:
    spec = QuantizationSpec(bits=4, compute_dtype="bfloat16", quant_storage="uint8")
    sharded = plan(devices=2, strategy="deepspeed", zero_stage=3)
    replicated = plan(devices=2, strategy="ddp")
    adjusted = quantization_for(spec, sharded)
    assert adjusted is not None and adjusted.quant_storage == "bfloat16"
    assert quantization_for(spec, replicated) == spec
    assert quantization_for(None, sharded) is None


@pytest.mark.parametrize("preset", CPU_PRESETS)
def test_cpu_presets_pass_every_check(preset: str) -> None:
    assert all_problems(compose_run([f"hardware={preset}"])) == []


@pytest.mark.parametrize("preset", GPU_PRESETS)
def test_gpu_presets_are_refused_before_launch_without_a_gpu(preset: str) -> None:
    problems = all_problems(compose_run([f"hardware={preset}"]))
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert len(problems) == 1 and f"hardware={preset} needs a CUDA GPU" in problems[0]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (["hardware=zero2_offload", "optim=sgd"], "optim.name=sgd cannot be offloaded"),
        (["hardware=zero2", "hardware.deepspeed.offload_parameters=true"], "stage=3"),
        (["hardware=zero2", "hardware.deepspeed.stage=4"], "hardware.deepspeed.stage=4"),
        (["hardware=cpu_ddp", "hardware.process_group_backend=nccl"], "nccl needs GPUs"),
        (["hardware=cpu_ddp", "hardware.process_group_backend=ucx"], "process_group_backend"),
        (["hardware=cpu", "hardware.precision=16-mixed"], "not available on the CPU"),
        (["hardware=cpu", "hardware.devices=0"], "hardware.devices=0"),
        (["hardware=cpu", "hardware.num_nodes=many"], "hardware.num_nodes=many"),
        (["hardware=cpu", "hardware.strategy=zero9"], "hardware.strategy"),
        (["hardware=cpu", "hardware.requires=[tpu]"], "hardware.requires"),
        (["hardware=fsdp", "+hardware.refuses.no_such_flag=why"], "hardware.refuses"),
    ],
)
def test_bad_hardware_settings_are_refused_by_key(overrides: list[str], fragment: str) -> None:
    problems = all_problems(compose_run(overrides))
    assert any(fragment in p for p in problems), problems


def test_4bit_bases_are_refused_by_fsdp_and_qlora_alone_shards_under_zero3() -> None:
    problems = all_problems(compose_run(["method=qlora", "hardware=fsdp"]))
    assert len(problems) == 1
    assert "method=qlora cannot run with hardware.strategy=fsdp: " in problems[0]
    for preset in ("zero2", "zero3", "zero3_offload"):
        assert all_problems(compose_run(["method=qlora", f"hardware={preset}"])) == []
    problems = all_problems(compose_run(["method=qdora", "hardware=zero3"]))
    shown = "method=qdora cannot run with hardware.strategy=deepspeed (deepspeed_stage_3)"
    assert len(problems) == 1 and shown in problems[0]


def test_a_preset_refuses_methods_by_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    from framework.methods.builtin.qlora import QLoRA

    monkeypatch.setattr(QLoRA, "capabilities", replace(QLoRA.capabilities, refuses_strategies={}))
    problems = all_problems(compose_run(["method=qlora", "hardware=fsdp"]))
    assert len(problems) == 1
    assert "hardware=fsdp refuses method=qlora (requires_quantized_base)" in problems[0]


def test_missing_deepspeed_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "deepspeed" else real(n, *a)
    )
    problems = all_problems(compose_run(["hardware=zero1"]))
    assert any("DeepSpeed, which is not installed" in p for p in problems)


def test_memory_estimate_partitions_and_offloads() -> None:
    shape = shape_from_preset(compose_run(["model=smollm2_135m"]).model.shape)
    assert shape.total_params == 134_515_008
    phi3 = shape_from_preset(compose_run(["model=phi3_mini"]).model.shape)
    assert abs(phi3.total_params - 3.82e9) < 0.01e9
    full = Workload(trainable=shape.total_params, adapter=False, accelerator="gpu")
    one = estimate_memory(shape, full)
    zero3 = estimate_memory(shape, replace(full, world_size=4, zero_stage=3))
    assert zero3.parts["weights"] < one.parts["weights"] / 2
    assert zero3.parts["optimizer states"] < one.parts["optimizer states"]
    offload = replace(full, zero_stage=2, offload_optimizer=True)
    assert estimate_memory(shape, offload).parts["optimizer states"] == 0
    gpu_qlora = Workload(trainable=2_000_000, quant_bits=4, accelerator="gpu")
    qlora = estimate_memory(shape, gpu_qlora)
    lora = estimate_memory(shape, replace(gpu_qlora, quant_bits=None))
    assert qlora.parts["weights"] < lora.parts["weights"] / 2
    # On the CPU the fp32 checkpoint is mapped while the 4-bit weights are packed, then let
    # go: training keeps only the packed weights (and the unquantized embeddings, norms).
    cpu = [estimate_memory(shape, replace(w, accelerator="cpu")) for w in (gpu_qlora, full)]
    assert cpu[0].parts["weights"] < cpu[1].parts["weights"] / 2
    fp32_file = shape.total_params * 4
    assert cpu[0].load_peak > fp32_file + cpu[0].parts["weights"] - 4 * 2_000_000


def test_ranks_together_see_the_single_process_batches() -> None:
    single = list(ResumableSampler(30, seed=3))
    ranks = [list(ResumableSampler(30, seed=3, num_replicas=2, rank=r)) for r in (0, 1)]
    for step in range(7):  # single batch 4 == two ranks x batch 2
        together = ranks[0][2 * step : 2 * step + 2] + ranks[1][2 * step : 2 * step + 2]
        assert sorted(together) == sorted(single[4 * step : 4 * step + 4])
    resumed = [ResumableSampler(30, seed=3, num_replicas=2, rank=r) for r in (0, 1)]
    for sampler in resumed:
        sampler.resume_at(0, 8)  # two steps of 2 ranks x 2 rows
    after = [list(s) for s in resumed]
    assert sorted(after[0][:2] + after[1][:2]) == sorted(single[8:12])
    assert len(after[0]) == len(after[1])  # equal per-rank lengths: no rank waits forever


def test_deepspeed_checkpoint_folder_is_readable_only_when_complete(tmp_path: Path) -> None:
    folder = tmp_path / "step-000004.ckpt"
    tag = folder / "checkpoint"
    tag.mkdir(parents=True)
    state = {"global_step": 4, "loops": {}, "dp_world_size": 2, "module": {}}
    torch.save(state, tag / "mp_rank_00_model_states.pt")
    torch.save({"x": torch.zeros(1)}, tag / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    assert not readable(folder)  # rank 1's shard is missing
    torch.save({"x": torch.zeros(1)}, tag / "zero_pp_rank_1_mp_rank_00_optim_states.pt")
    assert readable(folder)
    (tag / "mp_rank_00_model_states.pt").write_bytes(b"torn")
    assert not readable(folder)


def _restated_defaults(node: object, default: object, key: str) -> list[str]:
    """Keys of a preset's YAML node whose value equals the schema default."""
    from dataclasses import fields, is_dataclass

    if is_dataclass(default) and isinstance(node, dict):
        found = []
        for f in fields(default):
            if f.name in node:
                found += _restated_defaults(
                    node[f.name], getattr(default, f.name), f"{key}.{f.name}"
                )
        return found
    return [key] if node == default else []


def test_hardware_presets_compose_from_one_base_and_restate_no_schema_default() -> None:
    import yaml

    from framework.hardware.schema import HardwareConfig

    for path in sorted((ROOT / "conf/hardware").glob("*.yaml")):
        node = yaml.safe_load(path.read_text())
        node.pop("defaults", None)
        assert _restated_defaults(node, HardwareConfig(name="-"), "hardware") == [], path.name
        if path.stem.startswith("zero"):
            assert "_deepspeed" in path.read_text()  # the DeepSpeed keys live in the base


def test_the_base_preset_is_not_selectable() -> None:
    problems = all_problems(compose_run(["hardware=_deepspeed"]))
    assert len(problems) == 1 and "not a preset" in problems[0]
