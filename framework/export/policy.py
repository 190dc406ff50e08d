"""Which runs can be exported and why not, decided from the method's capabilities (no torch)."""

from __future__ import annotations

from framework.errors import UserError, allowed_list
from framework.inference.run_dir import RunDir
from framework.methods.base import Capabilities
from framework.methods.registry import get_method, method_names


def exportable(caps: Capabilities) -> bool:
    """Mergeable adapters, adapters that merge once their quantized base is dequantized
    (QLoRA), and full fine-tuning (plain weights already) can be exported."""
    return caps.mergeable or caps.merges_dequantized or not caps.produces_adapter


def refusal_reason(method_name: str, caps: Capabilities) -> str | None:
    """Why a run of this method cannot be exported, or None when it can."""
    if exportable(caps):
        return None
    why = caps.merge_refusal or "its adapter is not a weight update that folds into the base"
    allowed = [n for n in method_names() if exportable(get_method(n).cls.capabilities)]
    return (
        f"method={method_name} cannot be exported: {why}. An export holds plain weights "
        f"(merged safetensors, or an ONNX graph of them), so it needs a mergeable method "
        f"({allowed_list(allowed)}). This run's adapter still loads with "
        "PeftModel.from_pretrained, and evaluate.py / generate.py use it as is."
    )


def check_exportable(run: RunDir) -> None:
    """Raise a UserError naming the reason when the run's method cannot be exported."""
    reason = refusal_reason(run.method_name, get_method(run.method_name).cls.capabilities)
    if reason:
        raise UserError(reason)
