"""The cells of `make gpu-check` (real model shapes x methods) and docs/gpu-matrix.md.

The shapes are those of the models' transformers configs (LlamaConfig / Phi3Config values of
SmolLM2-135M, Phi-3-mini-4k and Llama-3-8B), built with random weights by `model.random_init`
on `model=tiny`'s tokenizer: the vocabulary is SmolLM2's 49,152 tokens for all three (Phi-3
has 32,064, Llama-3 128,256), which the table states.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VOCAB = 49152
# name: (architecture, hidden, layers, heads, kv heads, intermediate, max positions)
MODELS = {
    "smollm2": ("llama", 576, 30, 9, 3, 1536, 2048),
    "phi3mini": ("phi3", 3072, 32, 32, 32, 8192, 4096),
    "llama3_8b": ("llama", 4096, 32, 32, 8, 14336, 8192),
}
METHODS = ("lora", "qlora", "dora", "full")
COMMON = [
    "dataset=chatterbot",
    "dataset.max_length=512",
    "dataset.batch_size=8",
    "dataset.limit=256",
    "dataset.val_max_rows=8",
    "trainer.max_steps=8",
    "trainer.enable_progress_bar=false",
    "run.save_checkpoints=false",
    "run.step_times=true",
    "run.resume=never",
]


@dataclass(frozen=True)
class Cell:
    """One model x method x hardware preset."""

    model: str
    method: str
    hardware: str

    def overrides(self) -> list[str]:
        arch, hidden, layers, heads, kv, inter, positions = MODELS[self.model]
        shape = [
            "model=tiny",
            f"model.architecture={arch}",
            "model.dtype=bfloat16",
            f"model.random_init.hidden_size={hidden}",
            f"model.random_init.num_layers={layers}",
            f"model.random_init.num_heads={heads}",
            f"model.random_init.num_kv_heads={kv}",
            f"model.random_init.intermediate_size={inter}",
            f"model.random_init.max_position_embeddings={positions}",
        ]
        method = [f"method={self.method}"]
        if self.method == "qlora":  # NF4, double quantization, bf16 compute
            method += ["method.quant_type=nf4", "method.double_quant=true"]
            method.append("method.compute_dtype=bfloat16")
        return [*shape, *method, f"hardware={self.hardware}", *COMMON]


def cells() -> list[Cell]:
    found = [Cell(m, method, "single_gpu") for m in MODELS for method in METHODS]
    return [*found, Cell("llama3_8b", "full", "zero3_offload")]


def parameters(model: str) -> int:
    """Parameters of the shape (decoder blocks, embeddings, untied head)."""
    _, hidden, layers, heads, kv, inter, _ = MODELS[model]
    head_dim = hidden // heads
    attention = hidden * heads * head_dim * 2 + hidden * kv * head_dim * 2
    block = attention + 3 * hidden * inter + 2 * hidden
    tied = model == "smollm2"
    return layers * block + VOCAB * hidden * (1 if tied else 2) + hidden


def flops_per_token(cell: Cell) -> float:
    """Training FLOPs per token: 6N for full fine-tuning, 4N for adapters (no weight
    gradients of the frozen base)."""
    return (6.0 if cell.method == "full" else 4.0) * parameters(cell.model)


def fmt(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def write(results: list[dict[str, Any]], gpu: str, peak_flops: float | None, out: Path) -> None:
    lines = [
        "# GPU matrix",
        "",
        f"`make gpu-check` (bench/gpu_check.py) on {gpu} ({platform.node()}). Random-initialised "
        f"models with the real shapes (vocabulary {VOCAB:,} for all, SmolLM2's tokenizer), bf16, "
        f"{' '.join(COMMON)}. Peak = torch.cuda.max_memory_allocated (metrics.json); estimate = "
        "the dry run's per-device peak (framework/hardware/memory.py); error = peak / estimate - "
        "1. MFU = tokens/s x (6N full, 4N adapters) / the GPU's dense bf16 peak "
        f"({fmt(peak_flops and peak_flops / 1e12, '.0f') or 'unknown'} TFLOP/s).",
        "",
        "| model | params | method | hardware | status | estimate MiB | peak MiB | error "
        "| tokens/s | MFU | detail |",
        "|---|--:|---|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for r in results:
        est, peak = r["estimate_mib"], r["peak_mib"]
        error = f"{peak / est - 1:+.0%}" if est and peak else ""
        lines.append(
            f"| {r['model']} | {parameters(r['model']) / 1e9:.2f}B | {r['method']} "
            f"| {r['hardware']} | {r['status']} | {fmt(est, ',.0f')} | {fmt(peak, ',.0f')} "
            f"| {error} | {fmt(r['tokens_per_s'], ',.0f')} | {fmt(r['mfu'], '.1%')} "
            f"| {r['detail']} |"
        )
    out.write_text("\n".join(lines) + "\n")
