"""Peak memory per device from the config alone (pure python: dry runs stay fast)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MIB = 2**20
# A CPU process before any model: python + torch + transformers + peft + lightning +
# bitsandbytes imported (498 MiB measured) plus the tokenizer, rows and Trainer (~50 MiB).
CPU_RUNTIME_BYTES = 550 * MIB
# Peak activation memory of a step over the bytes autograd saves: backward holds activation
# gradients and temporaries beside them, and on the CPU glibc keeps freed blocks of varying
# shapes. CPU: fitted on one run kept out of the comparison (LoRA on SmolLM2-135M,
# max_length=96: 2.15); docs/benchmarks.md reports the error on the others. GPU: assumed.
CPU_ACTIVATION_PEAK_FACTOR = 2.15
GPU_ACTIVATION_PEAK_FACTOR = 1.5
CUDA_CONTEXT_BYTES = 500 * MIB  # not in torch.cuda.max_memory_allocated, but it occupies the GPU
DEFAULT_VOCAB = 49152  # the SmolLM2 tokenizer (model=tiny uses it)
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# bitsandbytes: 4-bit NF4 packs two weights a byte plus one absmax per 64 weights (8-bit with
# double quantization, fp32 otherwise); LLM.int8() keeps a byte a weight plus row statistics.
QUANT_BYTES = {(4, True): 0.5 + 1 / 64 + 4 / (64 * 256), (4, False): 0.5 + 4 / 64, (8, True): 1.0}
ZERO_BUCKET_ELEMENTS = 200_000_000  # Lightning's DeepSpeed reduce/allgather bucket size


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know of a decoder-only transformer."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool

    def linears(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection of one block, by module name."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        h, i = self.hidden, self.intermediate
        return {
            "q_proj": (h, q),
            "k_proj": (h, kv),
            "v_proj": (h, kv),
            "o_proj": (q, h),
            "qkv_proj": (h, q + 2 * kv),  # phi3 fuses q, k, v
            "gate_proj": (h, i),
            "up_proj": (h, i),
            "gate_up_proj": (h, 2 * i),  # phi3 fuses gate and up
            "down_proj": (i, h),
        }

    @property
    def block_linear_params(self) -> int:
        names = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
        return self.layers * sum(i * o for n, (i, o) in self.linears().items() if n in names)

    @property
    def other_params(self) -> int:
        """Embeddings, norms and (untied) head: never quantized."""
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        return embeddings + self.hidden * (2 * self.layers + 1)

    @property
    def total_params(self) -> int:
        return self.block_linear_params + self.other_params


def shape_from_config_json(path: Path) -> ModelShape:
    """Read a transformers config.json (llama/phi3-style keys)."""
    c = json.loads(path.read_text())
    heads = int(c["num_attention_heads"])
    return ModelShape(
        vocab=int(c["vocab_size"]),
        hidden=int(c["hidden_size"]),
        intermediate=int(c["intermediate_size"]),
        layers=int(c["num_hidden_layers"]),
        heads=heads,
        kv_heads=int(c.get("num_key_value_heads") or heads),
        head_dim=int(c.get("head_dim") or int(c["hidden_size"]) // heads),
        tied=bool(c.get("tie_word_embeddings", False)),
    )


def shape_from_preset(shape: Any) -> ModelShape:
    """A model preset's `shape` node (framework.config.schema.ShapeConfig)."""
    heads = int(shape.heads)
    return ModelShape(
        vocab=int(shape.vocab),
        hidden=int(shape.hidden),
        intermediate=int(shape.intermediate),
        layers=int(shape.layers),
        heads=heads,
        kv_heads=int(shape.kv_heads),
        head_dim=int(shape.head_dim) if shape.head_dim is not None else int(shape.hidden) // heads,
        tied=bool(shape.tied),
    )


def model_shape(model: Any, cache_dir: Path, config_json: Path | None) -> ModelShape | None:
    """The model preset's shape: random_init, else its config.json (local folder or converted
    cache), else the preset's `shape`; None when nothing tells."""
    vocab = shape_from_config_json(config_json).vocab if config_json else DEFAULT_VOCAB
    init = model.random_init
    if init is not None:
        return ModelShape(
            vocab=vocab,
            hidden=int(init.hidden_size),
            intermediate=int(init.intermediate_size),
            layers=int(init.num_layers),
            heads=int(init.num_heads),
            kv_heads=int(init.num_kv_heads),
            head_dim=int(init.hidden_size) // int(init.num_heads),
            tied=True,
        )
    if config_json is not None:
        return shape_from_config_json(config_json)
    return shape_from_preset(model.shape) if model.shape is not None else None


@dataclass(frozen=True)
class Workload:
    """Everything besides the model shape that decides memory (flat values)."""

    dtype: str = "float32"  # the model's parameter dtype
    trainable: int = 0  # trainable parameters (adapter, or the whole model)
    adapter: bool = True  # trainable parameters are an adapter beside a frozen base
    quant_bits: int | None = None
    double_quant: bool = True
    optimizer: str = "adamw"
    momentum: float = 0.0
    batch_size: int = 8
    eval_batch_size: int = 16
    seq_len: int = 128
    gradient_checkpointing: bool = False
    accelerator: str = "cpu"
    precision: str = "32-true"
    world_size: int = 1
    zero_stage: int = 0  # 0: no DeepSpeed
    offload_optimizer: bool = False
    offload_parameters: bool = False
    fsdp: bool = False
    loads_file: bool = True  # weights come from a checkpoint file (not random init)


@dataclass
class MemoryEstimate:
    """Per-device bytes by component, the peak, and how it was reckoned."""

    parts: dict[str, float] = field(default_factory=dict)
    load_peak: float = 0.0
    train_peak: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def peak(self) -> float:
        return max(self.load_peak, self.train_peak)


def adapter_parameters(shape: ModelShape, rank: int | None, targets: list[str]) -> int:
    """LoRA-family adapter size: r * (in + out) per targeted projection and block; without a
    rank, one vector per projection output (IA3-like; prompt methods are smaller still)."""
    linears = shape.linears()
    chosen = [linears[t] for t in targets if t in linears] or [linears["q_proj"]]
    if rank is None:
        return shape.layers * sum(o for _, o in chosen)
    return shape.layers * sum(rank * (i + o) for i, o in chosen)


def _weights(shape: ModelShape, w: Workload, on_cpu: bool, loading: bool = False) -> float:
    """Resident weights. On the CPU a checkpoint file is memory-mapped: full-precision weights
    are views of it (counted once). A quantized base reads the whole mapped file while it packs
    the block linears (`loading`), then keeps only the packed weights plus its other tensors
    (framework.models.quantization.release_file_mappings lets the file go)."""
    dtype = BYTES.get(w.dtype, 4)
    block = shape.block_linear_params
    adapter = 4 * w.trainable if w.adapter else 0  # adapters train in fp32
    per_weight: float = dtype
    if w.quant_bits:
        per_weight = QUANT_BYTES[(w.quant_bits, w.double_quant or w.quant_bits == 8)]
    if on_cpu and w.loads_file and not w.quant_bits:
        return shape.total_params * dtype + adapter
    if on_cpu and w.loads_file and loading:
        return shape.total_params * dtype + block * per_weight
    return block * per_weight + shape.other_params * dtype + adapter


def _activations(shape: ModelShape, w: Workload) -> float:
    """Peak activation memory of a training step: the tensors autograd saves, times a factor
    for what backward holds beside them (activation gradients, temporaries, allocator).

    Saved per token and block: ~8.5h + 2kv + 2i values (measured with saved_tensors_hooks on
    SmolLM2: 8,380 per token per block, the formula gives 8,352); with gradient checkpointing
    one block input per block plus one block's worth. Plus the logits twice (logits and the
    cross-entropy's log-softmax, fp32)."""
    act = 2 if w.precision.startswith(("bf16", "16")) else 4
    kv = shape.kv_heads * shape.head_dim
    per_token_block = 8.5 * shape.hidden + 2 * kv + 2 * shape.intermediate
    tokens = w.batch_size * w.seq_len
    if w.gradient_checkpointing:
        saved = tokens * (shape.layers * shape.hidden + per_token_block) * act
    else:
        saved = tokens * shape.layers * per_token_block * act
    saved += 2 * tokens * shape.vocab * 4
    factor = GPU_ACTIVATION_PEAK_FACTOR if w.accelerator == "gpu" else CPU_ACTIVATION_PEAK_FACTOR
    return saved * factor


def estimate_memory(shape: ModelShape, w: Workload) -> MemoryEstimate:
    """Peak bytes per device: max(loading, training step), by component."""
    est = MemoryEstimate()
    on_gpu = w.accelerator == "gpu"
    sharded = w.zero_stage == 3 or w.fsdp
    world = max(1, w.world_size)
    whole_weights = _weights(shape, w, on_cpu=not on_gpu)
    weights = whole_weights / world if sharded else whole_weights
    if sharded:
        largest_block = shape.block_linear_params / shape.layers * BYTES.get(w.dtype, 4)
        weights += largest_block  # one block gathered at a time for its forward/backward
    if w.offload_parameters and on_gpu:
        weights = shape.block_linear_params / shape.layers * BYTES.get(w.dtype, 4)
    grad_bytes = 4 if w.adapter else BYTES.get(w.dtype, 4)
    grads: float = w.trainable * grad_bytes / (world if (w.zero_stage >= 2 or w.fsdp) else 1)
    states: float = {"adamw": 8, "sgd": 4 if w.momentum else 0}.get(w.optimizer, 8) * w.trainable
    if w.zero_stage:
        states += 4 * w.trainable  # DeepSpeed keeps an fp32 copy of its partition
    if w.zero_stage or w.fsdp:
        states /= world
    if w.offload_optimizer and on_gpu:
        est.notes.append(f"optimizer states ({states / MIB:.0f} MiB) offloaded to host RAM")
        states = 0
    if w.zero_stage in (1, 2):
        grads += min(ZERO_BUCKET_ELEMENTS, w.trainable) * grad_bytes  # reduce bucket
    activations = _activations(shape, w)
    runtime = CUDA_CONTEXT_BYTES if on_gpu else CPU_RUNTIME_BYTES
    est.parts = {
        "weights": weights,
        "gradients": grads,
        "optimizer states": states,
        "activations (train step)": activations,
        "CUDA context" if on_gpu else "runtime (python, torch, tokenizer, data)": runtime,
    }
    est.train_peak = sum(est.parts.values())
    # Loading builds the whole model on every rank (ZeRO-3 here partitions it afterwards).
    est.load_peak = runtime + _weights(shape, w, on_cpu=not on_gpu, loading=True)
    if est.load_peak > est.train_peak:
        est.notes.append("the peak is reached while loading the whole model")
    return est


def render_estimate(shape: ModelShape, w: Workload, est: MemoryEstimate) -> list[str]:
    """Lines for the dry run."""
    lines = [
        f"memory estimate per device ({'GPU' if w.accelerator == 'gpu' else 'CPU process'}): "
        f"peak ~{est.peak / MIB:,.0f} MiB",
        f"  model: {shape.total_params / 1e6:,.1f}M parameters, "
        f"{w.trainable / 1e6:,.3f}M trainable"
        + (f", base {w.quant_bits}-bit" if w.quant_bits else f", {w.dtype}"),
    ]
    lines += [f"  {name}: {value / MIB:,.0f} MiB" for name, value in est.parts.items()]
    lines.append(f"  while loading: {est.load_peak / MIB:,.0f} MiB")
    lines += [f"  note: {n}" for n in est.notes]
    return lines
