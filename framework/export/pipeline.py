"""export.py's work: write the export beside the run, check parity, then keep or refuse it."""

from __future__ import annotations

import gc
import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from framework.export.merged import load_merged, plain_model, save_merged
from framework.export.onnx import OnnxLogits, export_onnx
from framework.export.parity import (
    ParityError,
    ParityReport,
    ParitySettings,
    check_parity,
    held_out_prompts,
    torch_logits,
)
from framework.export.policy import check_exportable
from framework.inference.generate import LogitsFn
from framework.inference.load import load_model, load_run_tokenizer
from framework.inference.run_dir import RunDir
from framework.training.artifacts import write_json_atomically

log = logging.getLogger(__name__)


def default_output_dir(run: RunDir, export_format: str) -> Path:
    """<run_dir>/export/<format>."""
    return run.path / "export" / export_format


def _dtype(model: torch.nn.Module) -> torch.dtype:
    floating = [p.dtype for p in model.parameters() if p.dtype.is_floating_point]
    return floating[0] if floating else torch.float32


def export_run(
    run: RunDir, export_format: str, output_dir: Path, opset: int, settings: ParitySettings
) -> ParityReport:
    """Write the export to output_dir only if parity passes (or on_fail=warn)."""
    check_exportable(run)
    tokenizer = load_run_tokenizer(run)
    reference = load_model(run, tokenizer, torch.device("cpu"))
    prompts = held_out_prompts(run.cfg, tokenizer, settings.prompts)
    plain = plain_model(run, tokenizer)
    dtypes = [_dtype(plain.model)]
    staging = output_dir.with_name(output_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    candidate: LogitsFn
    if export_format == "merged":
        save_merged(plain.model, tokenizer, staging)
        del plain.model
        gc.collect()
        candidate = torch_logits(load_merged(staging))  # what a user gets from disk
    else:
        export_onnx(plain.model, staging, opset)
        config: Any = plain.model.config
        config.save_pretrained(str(staging))  # the model's config.json, for reference
        tokenizer.save_pretrained(str(staging))
        del plain.model
        gc.collect()
        candidate = OnnxLogits(staging / "model.onnx")
        dtypes.append(torch.float32)
    if plain.dequantized_to is None:
        dtypes.append(_dtype(reference))
    if plain.quantized_bits == 8:
        dtypes.append(torch.float16)  # LLM.int8() rounds activations through float16
    report = check_parity(
        torch_logits(reference),
        candidate,
        prompts,
        int(tokenizer.pad_token_id),
        settings,
        export_format,
        dtypes,
        plain.dequantized_to,
    )
    write_json_atomically(staging / "parity.json", report.as_dict())
    if not report.passed and settings.on_fail == "refuse":
        shutil.rmtree(staging, ignore_errors=True)
        raise ParityError(
            f"export refused, nothing written to {output_dir}.\n  {report.summary()}\n  "
            "Inspect it anyway with parity.on_fail=warn, or set the limits with "
            "parity.max_logit_diff=<float> / parity.min_agreement=<0..1>."
        )
    if not report.passed:
        log.warning("keeping the export although parity failed (parity.on_fail=warn)")
    shutil.rmtree(output_dir, ignore_errors=True)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(output_dir)
    return report
