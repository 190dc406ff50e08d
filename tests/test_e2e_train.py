"""End to end: train.py in a subprocess on the tiny model; exact files; adapter round-trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import yaml

from tests.helpers import TINY, files_under, run_dirs, run_train

pytestmark = pytest.mark.e2e  # every test here starts a subprocess

EXPECTED_FILES = {
    ".lock",
    ".hydra/config.yaml",
    ".hydra/hydra.yaml",
    ".hydra/overrides.yaml",
    "README.md",
    "adapter/README.md",
    "adapter/adapter_config.json",
    "adapter/adapter_model.safetensors",
    "checkpoints/fingerprint.json",
    "checkpoints/step-000004.ckpt",
    "config.yaml",
    "logs/metrics.csv",
    "loss_curve.png",
    "metrics.json",
    "samples.jsonl",
    "tokenizer/chat_template.jinja",
    "tokenizer/tokenizer.json",
    "tokenizer/tokenizer_config.json",
    "train.log",
}


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("e2e")
    result = run_train([*TINY, "method=lora", "method.r=4"], out)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(out)
    return run_dir


def test_run_dir_holds_exactly_the_expected_files(lora_run: Path) -> None:
    assert files_under(lora_run) == EXPECTED_FILES


def test_metrics_json_reports_losses_speed_memory_and_parameters(lora_run: Path) -> None:
    metrics = json.loads((lora_run / "metrics.json").read_text())
    assert metrics["steps"] == 4
    assert metrics["val_loss_after"] < metrics["val_loss_before"]
    assert metrics["train_loss_after"] < metrics["train_loss_before"]
    assert metrics["tokens_per_second"] > 0
    assert metrics["peak_memory_mib"] > 100
    # tiny Llama (hidden 64, 2 kv heads of 16 -> k/v out 32, MLP 128), 2 layers, 7 targets:
    # LoRA r=4 adds r * (in + out) per target.
    shapes = {"q": (64, 64), "k": (64, 32), "v": (64, 32), "o": (64, 64)}
    shapes |= {"gate": (64, 128), "up": (64, 128), "down": (128, 64)}
    assert metrics["trainable_parameters"] == 2 * sum(4 * (i + o) for i, o in shapes.values())
    assert metrics["total_parameters"] > metrics["trainable_parameters"]
    assert metrics["reload_max_logit_diff"] == 0.0
    assert metrics["wall_time_s"] > 0


def test_config_yaml_is_resolved_and_card_has_command(lora_run: Path) -> None:
    config = yaml.safe_load((lora_run / "config.yaml").read_text())
    assert config["method"]["r"] == 4
    assert config["paths"]["run_dir"] == str(lora_run)
    card = (lora_run / "README.md").read_text()
    assert "python train.py model=tiny" in card
    assert "method.r=4" in card
    assert "val_loss_after" in card
    from huggingface_hub import ModelCard

    header = ModelCard(card).data.to_dict()  # the Hugging Face front matter parses
    assert header["library_name"] == "peft" and header["pipeline_tag"] == "text-generation"
    assert header["base_model"] == "tiny"  # random weights: the preset, not the GGUF's
    assert "| preset model=tiny | main (file://" in card  # provenance: where presets came from


def test_adapter_loads_with_peft_and_matches_checkpoint_weights(lora_run: Path) -> None:
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoTokenizer

    from framework.config.schema import RandomInitConfig
    from framework.models.loader import build_random_llama

    tokenizer = AutoTokenizer.from_pretrained(str(lora_run / "tokenizer"))
    config = yaml.safe_load((lora_run / "config.yaml").read_text())
    init = RandomInitConfig(**config["model"]["random_init"])
    seed = config["run"]["seed"]

    def base() -> torch.nn.Module:
        return build_random_llama(init, len(tokenizer), seed)

    loaded = PeftModel.from_pretrained(base(), str(lora_run / "adapter"))
    # Independently: the same base + LoRA with the checkpoint's trainable weights.
    targets = list(loaded.peft_config["default"].target_modules)
    rebuilt = get_peft_model(base(), LoraConfig(r=4, lora_alpha=16, target_modules=targets))
    ckpt = lora_run / "checkpoints" / "step-000004.ckpt"
    state = torch.load(ckpt, weights_only=True, map_location="cpu")["state_dict"]
    weights = {k.removeprefix("model."): v for k, v in state.items()}
    missing = rebuilt.load_state_dict(weights, strict=False)
    assert not missing.unexpected_keys
    assert any("lora_A" in k for k in state)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hello there"}],
        add_generation_prompt=True,
        return_tensors="pt",
    )["input_ids"]
    loaded.eval()
    rebuilt.eval()
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, rebuilt(input_ids=ids).logits)
        base_logits = base()(input_ids=ids).logits
    assert not torch.equal(loaded(input_ids=ids).logits, base_logits), "adapter had no effect"


def test_progress_bar_shows_tokens_per_second(tmp_path: Path) -> None:
    args = [a for a in TINY if a != "trainer.enable_progress_bar=false"]
    result = run_train([*args, "run.save_checkpoints=false"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    shown = re.findall(r"tok/s:\s+([0-9.]+)", result.stdout)  # the bar may wrap the number
    assert shown and float(shown[-1]) > 0
