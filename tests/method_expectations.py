"""Independent expectations per method on the tiny model: trainable count, parameter names, lr.

Counts come from the methods' papers / PEFT layouts, computed here from the tiny model's shapes,
not read back from the adapted model. A registered method without an entry fails the
registry-completeness test: add one here when adding a method.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.method_kit import TINY_INIT, VOCAB

H = TINY_INIT.hidden_size
FF = TINY_INIT.intermediate_size
LAYERS = TINY_INIT.num_layers
KV = TINY_INIT.num_kv_heads * (H // TINY_INIT.num_heads)

# (in_features, out_features) of every Llama projection.
SHAPES: dict[str, tuple[int, int]] = {
    "q_proj": (H, H),
    "k_proj": (H, KV),
    "v_proj": (H, KV),
    "o_proj": (H, H),
    "gate_proj": (H, FF),
    "up_proj": (H, FF),
    "down_proj": (FF, H),
}
ALL_LINEAR = tuple(SHAPES)
BLOCK_PARAMS = sum(i * o for i, o in SHAPES.values()) + 2 * H  # + input/post-attention norms
MODEL_PARAMS = VOCAB * H + LAYERS * BLOCK_PARAMS + H  # tied embeddings + final norm


def per_layer(targets: tuple[str, ...], count: Callable[[int, int], int]) -> int:
    """Sum of count(in, out) over the targets, in every layer."""
    return LAYERS * sum(count(*SHAPES[t]) for t in targets)


def lora(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: cfg.r * (i + o))


def dora(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: cfg.r * (i + o) + o)  # + magnitude per output


def lora_b_only(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: cfg.r * o)


def ia3(cfg: Any) -> int:
    # keys and values scale their outputs; the MLP output projection scales its inputs
    return LAYERS * (KV + KV + FF)


def prefix(cfg: Any) -> int:
    return cfg.num_virtual_tokens * LAYERS * 2 * KV  # a key and a value per layer (GQA width)


def prompt(cfg: Any) -> int:
    return cfg.num_virtual_tokens * H


def ptuning(cfg: Any) -> int:
    e = cfg.encoder_hidden_size
    mlp = (H * e + e) + (e * e + e) + (e * H + H)  # Linear-ReLU-Linear-ReLU-Linear
    return cfg.num_virtual_tokens * H + mlp


def adalora(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: cfg.init_r * (i + o + 1))  # P, Q and E (SVD form)


def loha(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: 2 * cfg.r * (i + o))


def closest_factors(n: int) -> tuple[int, int]:
    """(a, b) with a * b = n, a <= b, a the largest divisor not above sqrt(n)."""
    a = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return a, n // a


def lokr(cfg: Any) -> int:
    def count(i: int, o: int) -> int:
        (i_small, i_big), (o_small, o_big) = closest_factors(i), closest_factors(o)
        w1 = o_small * i_small
        low_rank = cfg.r < max(o_big, i_big) / 2
        w2 = cfg.r * (o_big + i_big) if low_rank else o_big * i_big
        return w1 + w2

    return per_layer(ALL_LINEAR, count)


def oft(cfg: Any) -> int:
    b = cfg.oft_block_size
    return per_layer(ALL_LINEAR, lambda i, o: (i // b) * b * (b - 1) // 2)  # skew-symmetric


def vera(cfg: Any) -> int:
    return per_layer(ALL_LINEAR, lambda i, o: o + cfg.r)  # lambda_b per output, lambda_d per rank


def full(cfg: Any) -> int:
    return MODEL_PARAMS


def freeze(cfg: Any) -> int:
    return cfg.trainable_blocks * BLOCK_PARAMS + (H if cfg.train_final_norm else 0)


@dataclass(frozen=True)
class Expectation:
    """What conformance checks a method against."""

    trainable: Callable[[Any], int]  # expected trainable count from the method's config
    markers: tuple[str, ...]  # every trainable parameter name contains one of these
    lr: float = 1e-2  # learning rate for the few overfitting steps
    overrides: tuple[str, ...] = ()  # extra overrides on the tiny model


LORA_MARKERS = (".lora_A.", ".lora_B.")
PROMPT_MARKERS = ("prompt_encoder.",)
LAST_BLOCK = f"model.layers.{LAYERS - 1}."

EXPECTED: dict[str, Expectation] = {
    "full": Expectation(full, ("",), lr=1e-3),
    "freeze": Expectation(
        freeze, (LAST_BLOCK, "model.norm."), lr=1e-3, overrides=("method.trainable_blocks=1",)
    ),
    "lora": Expectation(lora, LORA_MARKERS),
    "rslora": Expectation(lora, LORA_MARKERS),
    "dora": Expectation(dora, (*LORA_MARKERS, ".lora_magnitude_vector.")),
    "qlora": Expectation(lora, LORA_MARKERS),
    "qdora": Expectation(dora, (*LORA_MARKERS, ".lora_magnitude_vector.")),
    "lora_8bit": Expectation(lora, LORA_MARKERS),
    "ia3": Expectation(ia3, (".ia3_l.",), lr=5e-2),
    "prefix": Expectation(prefix, PROMPT_MARKERS, lr=5e-2),
    "prompt": Expectation(prompt, PROMPT_MARKERS, lr=5e-2),
    "ptuning": Expectation(ptuning, PROMPT_MARKERS),
    "adalora": Expectation(adalora, (".lora_A.", ".lora_B.", ".lora_E.")),
    "loha": Expectation(loha, (".hada_w1_a.", ".hada_w1_b.", ".hada_w2_a.", ".hada_w2_b.")),
    "lokr": Expectation(lokr, (".lokr_w1.", ".lokr_w2.", ".lokr_w2_a.", ".lokr_w2_b.")),
    "oft": Expectation(oft, (".oft_R.",)),
    "vera": Expectation(vera, (".vera_lambda_b.", ".vera_lambda_d."), lr=5e-2),
    # plugins: the example in plugins/ and the entry-point package in tests/fixtures/
    "loraplus": Expectation(lora, LORA_MARKERS, lr=2e-3),
    "lora_fa": Expectation(lora_b_only, (".lora_B.",)),
}

# AdaLoRA's reload shrinks each matrix to the ranks its budget kept (rank_pattern), so the same
# products are summed over fewer terms: equal up to float32 rounding, not bit for bit.
RELOAD_TOLERANCE: dict[str, float] = {"adalora": 1e-5}
