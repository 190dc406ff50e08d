"""Turn a bitsandbytes-quantized base into plain linear layers in its compute dtype."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)

QUANTIZED_LINEARS = ("Linear4bit", "Linear8bitLt")


def is_bnb_linear(module: torch.nn.Module) -> bool:
    """A bitsandbytes 4- or 8-bit linear layer (not a PEFT wrapper around one)."""
    cls = type(module)
    return cls.__module__.startswith("bitsandbytes") and cls.__name__ in QUANTIZED_LINEARS


def quantized_bits(model: torch.nn.Module) -> int | None:
    """8 when any layer is LLM.int8(), 4 when any is 4-bit, None for a plain model."""
    names = {type(m).__name__ for m in model.modules() if is_bnb_linear(m)}
    return 8 if "Linear8bitLt" in names else 4 if names else None


def compute_dtype(model: torch.nn.Module) -> torch.dtype:
    """The dtype the quantized layers compute in (bnb_4bit_compute_dtype), else float32."""
    quant = getattr(getattr(model, "config", None), "quantization_config", None)
    found = getattr(quant, "bnb_4bit_compute_dtype", None)
    if isinstance(found, torch.dtype):
        return found
    for module in model.modules():
        dtype = getattr(module, "compute_dtype", None)
        if is_bnb_linear(module) and isinstance(dtype, torch.dtype):
            return dtype
    return torch.float32


def dequantized_linear(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Linear:
    """A plain nn.Linear holding the dequantized weight (and the bias) of a bnb layer."""
    from transformers.integrations.bitsandbytes import dequantize_bnb_weight

    weight = module.weight
    state = getattr(module, "state", None)  # 8-bit layers keep their scales here
    plain_weight = dequantize_bnb_weight(weight, state).to(dtype)  # type: ignore[arg-type]
    bias = getattr(module, "bias", None)
    linear = torch.nn.Linear(
        plain_weight.shape[1], plain_weight.shape[0], bias=bias is not None, device="meta"
    )
    linear.weight = torch.nn.Parameter(plain_weight, requires_grad=False)
    if bias is not None:
        linear.bias = torch.nn.Parameter(bias.detach().to(dtype), requires_grad=False)
    return linear


def dequantize_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Replace every bnb linear layer in place; drop the quantization marks; return the model."""
    replaced = 0
    for name, module in list(model.named_modules()):
        if is_bnb_linear(module):
            model.set_submodule(name, dequantized_linear(module, dtype))
            replaced += 1
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "quantization_config"):
        del config.quantization_config
    for attribute in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attribute):
            setattr(model, attribute, None)
    for flag in ("is_quantized", "is_loaded_in_4bit", "is_loaded_in_8bit"):
        if flag in vars(model):
            setattr(model, flag, False)
    model.to(dtype)
    log.info("dequantized %d bitsandbytes layers to %s", replaced, dtype)
    return model
