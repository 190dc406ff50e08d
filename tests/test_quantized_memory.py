"""A 4- or 8-bit base keeps only its packed weights resident: the fp32 weight file it was
quantized from is no longer mapped once the model is loaded (unit), and on SmolLM2 QLoRA's
peak RSS is below LoRA's by most of the fp32-minus-packed weight bytes (slow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from framework.config.schema import RandomInitConfig
from framework.models.loader import BaseSpec, build_random_model, load_causal_lm
from framework.models.quantization import QuantizationSpec, bnb_config
from framework.models.source import ModelSource
from tests.helpers import run_dirs, run_train

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/maps"
)

INIT = RandomInitConfig(hidden_size=128, num_layers=2, num_heads=4, num_kv_heads=2)
VOCAB = 4096


def mapped_paths() -> set[str]:
    """Files this process has memory-mapped now."""
    found = set()
    for line in Path("/proc/self/maps").read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) == 6:
            found.add(fields[5].removesuffix(" (deleted)"))
    return found


@pytest.fixture
def weight_folder(tmp_path: Path) -> Path:
    """A small random Llama saved as a safetensors model folder."""
    folder = tmp_path / "base"
    build_random_model("llama", INIT, VOCAB, seed=0).save_pretrained(str(folder))
    return folder


def load_local(folder: Path, bits: int | None) -> torch.nn.Module:
    source = ModelSource("local", str(folder), cache_key="base")
    quantization = QuantizationSpec(bits=bits) if bits else None
    spec = BaseSpec(source, folder.parent, "float32", False, None, VOCAB, 0, quantization)
    return load_causal_lm(spec)


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_load_lets_the_fp32_file_go(weight_folder: Path, bits: int) -> None:
    weights = str((weight_folder / "model.safetensors").resolve())
    # The control: transformers alone keeps the file mapped under the quantized model.
    from transformers import AutoModelForCausalLM

    plain = AutoModelForCausalLM.from_pretrained(
        str(weight_folder),
        dtype=torch.float32,
        quantization_config=bnb_config(QuantizationSpec(bits=bits)),
    )
    assert weights in mapped_paths()
    del plain
    import gc

    gc.collect()
    assert weights not in mapped_paths()
    model = load_local(weight_folder, bits)
    assert weights not in mapped_paths()
    packed = [p for p in model.parameters() if type(p).__module__.startswith("bitsandbytes")]
    assert len(packed) == 2 * 7  # every linear of both layers (q k v o gate up down)
    logits = model(input_ids=torch.tensor([[1, 5, 9]])).logits
    assert torch.isfinite(logits).all()


def test_full_precision_load_stays_mapped(weight_folder: Path) -> None:
    """An fp32 base is read from the mapping in place (no copy): nothing to release."""
    weights = str((weight_folder / "model.safetensors").resolve())
    model = load_local(weight_folder, None)
    assert weights in mapped_paths()
    assert model.config.vocab_size == VOCAB


def test_random_init_quantized_keeps_no_temporary_file_mapped() -> None:
    spec = BaseSpec(
        ModelSource("local", "unused", cache_key="tiny"),
        Path("unused"),
        "float32",
        False,
        INIT,
        VOCAB,
        0,
        QuantizationSpec(bits=4),
    )
    model = load_causal_lm(spec)
    assert not any("hydratune-quantize-" in path for path in mapped_paths())
    assert any(type(p).__module__.startswith("bitsandbytes") for p in model.parameters())


# fp32 bytes of SmolLM2-135M's weights and of its 4-bit (NF4, double quant) packed form, MiB:
# sum(numel * element_size) over the loaded model's parameters.
SMOLLM2_FP32_MIB = 513.1
SMOLLM2_PACKED_MIB = 158.8


@pytest.mark.slow
@pytest.mark.e2e
def test_qlora_peak_below_lora_on_smollm2(tmp_path: Path) -> None:
    peaks = {}
    for method in ("lora", "qlora"):
        output = tmp_path / method
        output.mkdir()
        args = [f"method={method}", "trainer.max_steps=2", "run.resume=never"]
        result = run_train(args, output, timeout=1200)
        assert result.returncode == 0, result.stderr[-3000:]
        (run_dir,) = run_dirs(output)
        peaks[method] = json.loads((run_dir / "metrics.json").read_text())["peak_memory_mib"]
    saved = 0.8 * (SMOLLM2_FP32_MIB - SMOLLM2_PACKED_MIB)
    assert peaks["qlora"] <= peaks["lora"] - saved, peaks
