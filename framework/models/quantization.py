"""Load a base model quantized by bitsandbytes through transformers (works on CPU too)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

QUANT_TYPES = ("nf4", "fp4")
COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
STORAGE_DTYPES = ("uint8", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class QuantizationSpec:
    """Flat bitsandbytes settings a method asks its base to be loaded with."""

    bits: int  # 4 or 8
    quant_type: str = "nf4"  # 4-bit: nf4 | fp4
    double_quant: bool = True  # 4-bit: quantize the quantization constants too
    compute_dtype: str = "float32"  # 4-bit matmul dtype; float32 on CPU (AVX2 bf16 is slow)
    quant_storage: str = "uint8"  # 4-bit packed storage dtype
    int8_threshold: float = 6.0  # 8-bit: outlier threshold of LLM.int8()


def spec_problems(spec: QuantizationSpec, prefix: str = "method") -> list[str]:
    """Values bitsandbytes would refuse, named by their config keys."""
    found = []
    if spec.bits not in (4, 8):
        found.append(f"{prefix}.bits={spec.bits} is not allowed (allowed: 4, 8)")
    checks = (
        ("quant_type", spec.quant_type, QUANT_TYPES),
        ("compute_dtype", spec.compute_dtype, COMPUTE_DTYPES),
        ("quant_storage", spec.quant_storage, STORAGE_DTYPES),
    )
    for key, value, allowed in checks:
        if value not in allowed:
            found.append(f"{prefix}.{key}='{value}' is not allowed (allowed: {', '.join(allowed)})")
    return found


def bnb_config(spec: QuantizationSpec) -> Any:
    """transformers' BitsAndBytesConfig for a spec."""
    import torch
    from transformers import BitsAndBytesConfig

    if spec.bits == 8:
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=spec.int8_threshold)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=spec.quant_type,
        bnb_4bit_use_double_quant=spec.double_quant,
        bnb_4bit_compute_dtype=getattr(torch, spec.compute_dtype),
        bnb_4bit_quant_storage=getattr(torch, spec.quant_storage),
    )


def quantize_in_memory(model: torch.nn.Module, spec: QuantizationSpec) -> torch.nn.Module:
    """Reload an in-memory model quantized (saved to a temporary folder, then from_pretrained)."""
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory(prefix="hydratune-quantize-") as folder:
        # Not model.save_pretrained: with a process group up (DDP, DeepSpeed) transformers
        # writes only on rank 0, and every rank needs its own copy here.
        model.config.save_pretrained(folder)  # type: ignore[union-attr,operator]
        save_model(model, str(Path(folder) / "model.safetensors"))  # drops tied duplicates
        return AutoModelForCausalLM.from_pretrained(
            folder, quantization_config=bnb_config(spec), dtype=model.dtype
        )


def release_file_mappings(model: torch.nn.Module) -> int:
    """Copy the parameters and buffers of a quantized model that bitsandbytes did not pack into
    process memory, so the memory-mapped fp32 weight file is let go.

    A quantized load reads the safetensors file through one mapping; the layers it quantizes
    get packed copies, but the tensors it keeps (embeddings, norms, biases) remain views of
    that mapping (torch does not say which: their storages carry no file name), so every page
    of the fp32 file stays resident for the whole run. Once nothing views the mapping it is
    unmapped; glibc is then asked to return the freed heap (malloc_trim). Returns the number
    of tensors copied.
    """
    import gc

    seen: set[int] = set()
    copied = 0
    for module in model.modules():
        for tensors in (module._parameters, module._buffers):
            for tensor in tensors.values():
                if tensor is None or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                if not type(tensor).__module__.startswith("bitsandbytes"):
                    tensor.data = tensor.data.clone()
                    copied += 1
    gc.collect()
    trim_heap()
    return copied


def trim_heap() -> None:
    """Return the freed heap to the OS where the C library is glibc (malloc_trim)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
