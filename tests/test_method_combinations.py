"""Method x run x hardware checks before loading, presets, and end-to-end quantized training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from framework.builders.method import apply_context
from framework.config.schema import register_schemas
from framework.config.validate import all_problems
from framework.methods.discovery import discover_methods
from framework.methods.registry import get_method, method_names
from tests.helpers import ROOT, TINY, run_dirs, run_train
from tests.method_expectations import lora
from tests.method_kit import compose_run

register_schemas()
discover_methods(ROOT / "plugins")
QUANTIZED = ("qlora", "qdora", "lora_8bit")


@pytest.mark.e2e
def test_merge_request_is_refused_for_prefix_with_the_reason(tmp_path: Path) -> None:
    result = run_train([*TINY, "method=prefix", "run.merge=true"], tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    message = result.stderr
    assert "run.merge=true is refused for method=prefix" in message
    assert "virtual key/value tokens" in message
    assert "nothing to fold" in message
    assert "lora" in message  # names the mergeable alternatives
    assert "Traceback" not in message
    assert not list(tmp_path.rglob("*.safetensors"))


@pytest.mark.parametrize("name", method_names())
def test_merge_request_follows_capabilities(name: str) -> None:
    caps = get_method(name).cls.capabilities
    problems = all_problems(compose_run([f"method={name}", "run.merge=true"]))
    refused = [p for p in problems if p.startswith("run.merge=true")]
    if caps.mergeable or not caps.produces_adapter:
        assert refused == []
    else:
        assert refused and caps.merge_refusal in refused[0]


@pytest.mark.parametrize("name", QUANTIZED)
def test_quantized_methods_refuse_sharded_strategies(name: str) -> None:
    refused = [("fsdp", "fsdp"), ("zero3", "deepspeed (deepspeed_stage_3)")]
    if name == "qlora":  # trains under ZeRO-3: 4-bit storage in the compute dtype there
        refused = refused[:1]
    for preset, shown in refused:
        problems = all_problems(compose_run([f"method={name}", f"hardware={preset}"]))
        assert any(
            f"method={name} cannot run with hardware.strategy={shown}" in p for p in problems
        )
    assert all_problems(compose_run([f"method={name}", "hardware=cpu_ddp"])) == []


def test_quantized_method_without_bitsandbytes_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "bitsandbytes" else real(n, *a)
    )
    problems = all_problems(compose_run(["method=qlora"]))
    assert any("bitsandbytes" in p and "not installed" in p for p in problems)


def test_bad_quantization_values_are_named() -> None:
    problems = all_problems(compose_run(["method=qlora", "method.quant_type=nf3"]))
    assert any("method.quant_type='nf3'" in p and "nf4" in p for p in problems)


def test_method_problems_found_before_loading() -> None:
    assert any(
        "trainable_blocks=5" in p
        for p in all_problems(compose_run(["method=freeze", "method.trainable_blocks=5"]))
    )
    assert any(
        "no budgeting phase" in p
        for p in all_problems(compose_run(["method=adalora", "method.tinit_fraction=0.9"]))
    )
    ia3 = ["method=ia3", "method.target_modules=[k_proj]", "method.feedforward_modules=[x]"]
    assert any("feedforward_modules" in p for p in all_problems(compose_run(ia3)))


def test_presets_compose_on_the_base_method() -> None:
    cfg = compose_run(["method=lora_r64"])
    assert (cfg.method.name, cfg.method.r, cfg.method.alpha) == ("lora", 64, 128)
    assert compose_run(["method=lora_r64", "method.r=16"]).method.r == 16
    cfg = compose_run(["method=qlora_r64"])
    assert (cfg.method.name, cfg.method.r, cfg.method.quant_type) == ("qlora", 64, "nf4")
    assert all_problems(cfg) == []


def test_targets_follow_the_architecture() -> None:
    phi3 = compose_run(["method=ia3", "model.architecture=phi3", "model.target_modules=[]"])
    ctx = apply_context(phi3)
    assert ctx.target_modules == ("qkv_proj", "down_proj")
    assert ctx.feedforward_modules == ("down_proj",)
    bert = apply_context(compose_run(["method=lora", "model.architecture=bert"]))
    assert bert.target_modules == ("query", "key", "value", "dense")
    assert apply_context(compose_run(["method=prefix"])).target_modules == ()


@pytest.mark.e2e
def test_qlora_trains_on_cpu_through_train_py(tmp_path: Path) -> None:
    result = run_train([*TINY, "method=qlora", "hardware=cpu"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = get_method("qlora").cls.config_class(name="qlora")
    assert metrics["trainable_parameters"] == lora(config)
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert metrics["seconds_per_step"] > 0
    adapter = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter["peft_type"] == "LORA"
    saved = (run_dir / "config.yaml").read_text()
    assert "quant_type: nf4" in saved and "compute_dtype: float32" in saved


@pytest.mark.e2e
def test_merge_request_writes_a_merged_model(tmp_path: Path) -> None:
    args = [*TINY, "method=lora", "run.merge=true", "run.save_checkpoints=false"]
    result = run_train(args, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert (run_dir / "merged" / "model.safetensors").is_file()
    assert (run_dir / "adapter" / "adapter_config.json").is_file()
