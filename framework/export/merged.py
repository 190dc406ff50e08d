"""Fold a run's adapter into its base (dequantizing a 4/8-bit base first); save and reload."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from framework.export.dequantize import compute_dtype, dequantize_model, quantized_bits
from framework.inference.load import base_factory, load_model, run_method
from framework.inference.run_dir import RunDir

log = logging.getLogger(__name__)


@dataclass
class PlainModel:
    """A model with plain (unquantized, merged) weights, and how it was made."""

    model: torch.nn.Module
    dequantized_to: str | None = None  # compute dtype a quantized base was dequantized to
    quantized_bits: int | None = None  # 4 or 8 when the trained base was quantized


def plain_model(run: RunDir, tokenizer: Any) -> PlainModel:
    """The run's model as one set of plain weights: base (+ merged adapter), in eval mode."""
    if not run.has_adapter:  # full fine-tuning: the saved model is plain already
        return PlainModel(load_model(run, tokenizer))
    from peft import PeftModel

    base = base_factory(run, tokenizer)()
    dequantized_to, bits = None, quantized_bits(base)
    if bits is not None:
        dtype = compute_dtype(base)
        base = dequantize_model(base, dtype)
        dequantized_to = str(dtype).removeprefix("torch.")
    adapted = PeftModel.from_pretrained(base, str(run.adapter_dir))
    method = run_method(run)
    # A QLoRA-style method refuses merging in place (into 4-bit weights); on the
    # dequantized base its adapter folds in like plain LoRA.
    merged = method.merge(adapted) if method.capabilities.mergeable else adapted.merge_and_unload()
    merged.eval()
    return PlainModel(merged, dequantized_to, bits)


def save_merged(model: torch.nn.Module, tokenizer: Any, folder: Path) -> None:
    """Safetensors + config + tokenizer: a folder plain transformers loads."""
    model.save_pretrained(str(folder), safe_serialization=True)  # type: ignore[operator]
    tokenizer.save_pretrained(str(folder))


def load_merged(folder: Path) -> torch.nn.Module:
    """Load a merged export with plain transformers (no PEFT, no hydratune)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()
