"""Export a plain causal LM to ONNX with torch.onnx (dynamo) and run it with onnxruntime."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from pathlib import Path

import torch

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INPUT_NAMES = ["input_ids", "attention_mask"]


class LogitsOnly(torch.nn.Module):
    """(input_ids, attention_mask) -> logits, without a KV cache: the exported signature."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False
        ).logits


def export_onnx(model: torch.nn.Module, folder: Path, opset: int) -> Path:
    """Write folder/model.onnx (+ model.onnx.data) with dynamic batch and sequence axes."""
    from torch.export import Dim

    wrapper = LogitsOnly(model.float().cpu().eval()).eval()
    # Batch 2, length 8: sizes 0 and 1 would be specialized by torch.export.
    input_ids = torch.full((2, 8), 1, dtype=torch.long)
    attention_mask = torch.ones_like(input_ids)
    batch, sequence = Dim("batch"), Dim("sequence")
    axes = {"input_ids": {0: batch, 1: sequence}, "attention_mask": {0: batch, 1: sequence}}
    path = folder / ONNX_FILE
    log.info("exporting ONNX (opset %d) to %s", opset, path)
    for chatty in ("onnx_ir", "onnxscript", "torch.onnx"):  # progress and "torchvision not
        logging.getLogger(chatty).setLevel(logging.ERROR)  # installed" notes, not problems
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            (input_ids, attention_mask),
            str(path),
            dynamo=True,
            input_names=INPUT_NAMES,
            output_names=["logits"],
            dynamic_shapes=axes,
            opset_version=opset,
            external_data=True,
            verbose=False,
        )
    return path


class OnnxLogits:
    """An onnxruntime session over an exported model, called like a logits function."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        feeds = {
            "input_ids": input_ids.cpu().numpy().astype("int64"),
            "attention_mask": attention_mask.cpu().numpy().astype("int64"),
        }
        return torch.from_numpy(self.session.run(["logits"], feeds)[0])
