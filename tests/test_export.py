"""export.py on tiny runs: merged and ONNX pass parity, ORT decodes like torch, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from framework.export.policy import refusal_reason
from framework.methods.base import Capabilities
from framework.methods.builtin import load_builtins
from framework.methods.registry import method_names
from tests.helpers import ROOT, train_tiny
from tests.test_inference import run_script

load_builtins()
PREFIX_LANDED = (ROOT / "framework/methods/builtin/prefix.py").is_file()
QLORA_LANDED = "qlora" in method_names()
PROMPTS = [
    [{"role": "user", "content": "Hello, how are you?"}],
    [{"role": "user", "content": "Hi"}],
]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, train_py: object) -> Path:
    """One tiny LoRA run for the module (train_py: its users are e2e)."""
    return train_tiny(tmp_path_factory.mktemp("export"), "method=lora")


@pytest.fixture(scope="module")
def onnx_export(lora_run: Path) -> Path:
    result = run_script("export.py", [f"run_dir={lora_run}", "format=onnx"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "-> PASS" in result.stdout
    return lora_run / "export" / "onnx"


def _parity(folder: Path) -> dict[str, float]:
    report = json.loads((folder / "parity.json").read_text())
    assert report["passed"], report
    assert report["prompt_source"] == "held-out validation rows"
    assert report["positions"] > 100
    assert report["max_abs_logit_diff"] < 1e-4
    assert report["next_token_agreement"] == 1.0
    assert report["greedy_identical"] == report["greedy_prompts"] == 2
    return report


def _logits(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits


def test_merged_export_passes_parity_and_loads_with_plain_transformers(lora_run: Path) -> None:
    from transformers import AutoModelForCausalLM

    from framework.inference.load import base_factory, load_model, load_run_tokenizer
    from framework.inference.run_dir import open_run_dir

    result = run_script("export.py", [f"run_dir={lora_run}", "format=merged"])
    assert result.returncode == 0, result.stderr[-3000:]
    folder = lora_run / "export" / "merged"
    _parity(folder)
    assert not (lora_run / "export" / "merged.partial").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(folder)).eval()  # no PEFT involved
    run = open_run_dir(str(lora_run))
    tokenizer = load_run_tokenizer(run)
    ids = torch.tensor([[1, 520, 9531, 198, 6004, 28, 2683]])
    trained = _logits(load_model(run, tokenizer), ids)
    base_only = _logits(base_factory(run, tokenizer)().eval(), ids)
    assert (trained - _logits(merged, ids)).abs().max() < 1e-4
    assert (trained - base_only).abs().max() > 1e-3  # the adapter matters: parity is no accident


def test_onnx_export_passes_parity(onnx_export: Path) -> None:
    assert (onnx_export / "model.onnx").is_file()
    assert (onnx_export / "tokenizer_config.json").is_file()
    report = _parity(onnx_export)
    assert report["format"] == "onnx" and report["dtype"] == "float32"


def test_onnxruntime_decodes_the_same_greedy_tokens_as_torch(
    lora_run: Path, onnx_export: Path
) -> None:
    from framework.export.onnx import OnnxLogits
    from framework.inference.generate import Sampling, decode_loop, generate_tokens, prompt_ids
    from framework.inference.load import load_model, load_run_tokenizer
    from framework.inference.run_dir import open_run_dir

    run = open_run_dir(str(lora_run))
    tokenizer = load_run_tokenizer(run)
    model = load_model(run, tokenizer)
    session = OnnxLogits(onnx_export / "model.onnx")
    greedy = Sampling(max_new_tokens=6)
    for messages in PROMPTS:
        prompt = prompt_ids(tokenizer, messages)
        # torch: transformers generate() with its KV cache; ORT: full-sequence decoding.
        expected = generate_tokens(model, prompt, greedy, stop_ids=[], pad_id=2)
        assert len(expected) == 6
        assert decode_loop(session, prompt, greedy, stop_ids=[]) == expected


def test_generate_runs_the_onnx_export(
    onnx_export: Path, lora_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from framework.cli.commands import generate_command
    from framework.cli.tool import compose_tool_config

    cfg = compose_tool_config(
        ROOT / "conf",
        "generate",
        [f"run_dir={lora_run}", "backend=onnx", "prompt=Hi, there", "max_new_tokens=3"],
    )
    generate_command(cfg)
    assert capsys.readouterr().out.endswith("\n")


def test_parity_failure_refuses_and_writes_nothing_or_warns(lora_run: Path, tmp_path: Path) -> None:
    from framework.export.parity import ParityError, ParitySettings
    from framework.export.pipeline import export_run
    from framework.inference.run_dir import open_run_dir

    run = open_run_dir(str(lora_run))
    strict = ParitySettings(prompts=2, max_logit_diff=1e-12, greedy_steps=0)
    with pytest.raises(ParityError, match=r"(?s)export refused.*max \|logit diff\| .* > 1e-12"):
        export_run(run, "merged", tmp_path / "merged", 18, strict)
    assert list(tmp_path.iterdir()) == []
    warn = ParitySettings(prompts=2, max_logit_diff=1e-12, greedy_steps=0, on_fail="warn")
    report = export_run(run, "merged", tmp_path / "merged", 18, warn)
    assert not report.passed
    assert json.loads((tmp_path / "merged" / "parity.json").read_text())["passed"] is False


def test_refusal_reason_follows_the_capabilities() -> None:
    reason = refusal_reason("demo", Capabilities(mergeable=False, merge_refusal="no weights"))
    assert reason is not None
    assert reason.startswith("method=demo cannot be exported: no weights.")
    assert "lora" in reason and "full" in reason  # the exportable methods are listed
    assert refusal_reason("demo", Capabilities(mergeable=True)) is None
    assert refusal_reason("demo", Capabilities(produces_adapter=False)) is None  # full FT
    assert refusal_reason("demo", Capabilities(merges_dequantized=True)) is None  # QLoRA


@pytest.mark.e2e
@pytest.mark.skipif(not PREFIX_LANDED, reason="method=prefix is not registered yet")
def test_prefix_tuning_export_is_refused_with_the_reason(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run_dir = train_tiny(tmp_path_factory.mktemp("prefix"), "method=prefix")
    for export_format in ("merged", "onnx"):
        result = run_script("export.py", [f"run_dir={run_dir}", f"format={export_format}"])
        assert result.returncode == 2
        assert "error: method=prefix cannot be exported: prefix tuning adds" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (run_dir / "export").exists()


@pytest.mark.e2e
@pytest.mark.skipif(not QLORA_LANDED, reason="method=qlora is not registered yet")
def test_qlora_export_dequantizes_to_the_compute_dtype(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run_dir = train_tiny(tmp_path_factory.mktemp("qlora"), "method=qlora")
    result = run_script("export.py", [f"run_dir={run_dir}", "format=merged"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the quantized base was dequantized to float32" in result.stdout
    folder = run_dir / "export" / "merged"
    report = _parity(folder)
    assert report["dequantized_to"] == "float32"
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())


@pytest.mark.parametrize("bits", [4, 8])
def test_dequantized_merge_matches_the_quantized_model(tmp_path: Path, bits: int) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from framework.config.schema import RandomInitConfig
    from framework.export.dequantize import compute_dtype, dequantize_model, is_bnb_linear
    from framework.models.loader import build_random_llama

    build_random_llama(RandomInitConfig(), 256, seed=0).save_pretrained(tmp_path / "base")
    quant = (
        BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_compute_dtype=torch.float32)
        if bits == 4
        else BitsAndBytesConfig(load_in_8bit=True)
    )

    def quantized_base() -> torch.nn.Module:
        return AutoModelForCausalLM.from_pretrained(
            tmp_path / "base", quantization_config=quant, dtype=torch.float32
        )

    torch.manual_seed(0)
    lora = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )
    reference = get_peft_model(quantized_base(), lora).eval()
    reference.save_pretrained(tmp_path / "adapter")
    base = quantized_base()
    assert compute_dtype(base) == torch.float32
    plain = dequantize_model(base, torch.float32)
    assert not any(is_bnb_linear(m) for m in plain.modules())
    merged = PeftModel.from_pretrained(plain, str(tmp_path / "adapter")).merge_and_unload()
    merged.save_pretrained(tmp_path / "merged")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    unquantized = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tmp_path / "base"), str(tmp_path / "adapter")
    ).eval()
    ids = torch.randint(0, 256, (2, 12), generator=torch.Generator().manual_seed(1))
    quantized, merged_back = _logits(reference, ids), _logits(reloaded, ids)
    on_float_weights = _logits(unquantized, ids)  # merging onto the original float weights
    if bits == 4:  # 4-bit matmuls dequantize the weight: the merge is exact
        assert (quantized - merged_back).abs().max() < 1e-4
        assert (quantized - on_float_weights).abs().max() > 1e-2
    else:  # LLM.int8() also rounds activations (fp16, 8-bit): close, never exact
        assert (quantized - merged_back).abs().max() < 1e-2
        assert (quantized - merged_back).abs().max() < (quantized - on_float_weights).abs().max()
