"""Compare an export with the trained model on held-out prompts: logits and next tokens."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from framework.data.render import IGNORE_INDEX
from framework.errors import UserError
from framework.inference.generate import LogitsFn, Sampling, decode_loop, prompt_ids
from framework.tasks.registry import CAUSAL_LM

log = logging.getLogger(__name__)

# Default max |logit difference| by the least precise dtype involved. float32 was measured
# (merge ~1e-6, ONNX ~3e-7 on the tiny model); the half-precision limits are rounding budgets.
PARITY_LIMITS = {"float32": 1e-3, "float64": 1e-3, "bfloat16": 0.5, "float16": 0.25}
FALLBACK_PROMPTS = (
    "Hello! How are you today?",
    "What is the capital of France?",
    "Tell me a short joke.",
    "Explain what a neural network is in one sentence.",
)
GREEDY_PROMPTS = 2
BATCH = 4


class ParityError(UserError):
    """An export differs from the trained model by more than the allowed limits."""


@dataclass(frozen=True)
class ParitySettings:
    """Thresholds and sizes of the check (flat values from export.yaml's parity node)."""

    prompts: int = 8
    max_logit_diff: float | None = None  # None: PARITY_LIMITS by dtype
    min_agreement: float = 0.99
    greedy_steps: int = 8
    on_fail: str = "refuse"  # refuse | warn


@dataclass
class ParityReport:
    """The numbers of one parity check, written to the export as parity.json."""

    format: str
    prompt_source: str
    prompts: int
    positions: int
    max_abs_logit_diff: float
    mean_abs_logit_diff: float
    max_abs_logit: float
    next_token_agreement: float
    greedy_steps: int
    greedy_identical: int
    greedy_prompts: int
    limit_max_logit_diff: float
    limit_min_agreement: float
    dtype: str
    dequantized_to: str | None = None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.failures)
        dequant = (
            f"; the quantized base was dequantized to {self.dequantized_to}"
            if self.dequantized_to
            else ""
        )
        greedy = (
            f"greedy {self.greedy_identical}/{self.greedy_prompts} prompts identical for "
            f"{self.greedy_steps} tokens"
            if self.greedy_prompts
            else "greedy check off"
        )
        return (
            f"parity ({self.format}, {self.dtype}{dequant}): max |logit diff| "
            f"{self.max_abs_logit_diff:.3g} (limit {self.limit_max_logit_diff:g}; mean "
            f"{self.mean_abs_logit_diff:.3g}, logits up to {self.max_abs_logit:.3g}), "
            f"next-token agreement {self.next_token_agreement:.2%} (limit "
            f"{self.limit_min_agreement:.2%}) over {self.positions} positions of "
            f"{self.prompts} {self.prompt_source}; {greedy} -> {verdict}"
        )


@dataclass(frozen=True)
class ParityPrompts:
    """Token sequences compared position by position, and prompts for greedy decoding."""

    sequences: list[list[int]]
    greedy: list[list[int]]
    source: str


def held_out_prompts(cfg: Any, tokenizer: Any, count: int) -> ParityPrompts:
    """The run's validation rows (rendered as in training); built-in prompts as a fallback."""
    from framework.builders.data import build_datamodule

    try:
        datamodule = build_datamodule(
            cfg.dataset, tokenizer=tokenizer, seed=int(cfg.run.seed), task=CAUSAL_LM
        )
        datamodule.setup()
        rows = datamodule.val_set[:count]
    except UserError as error:
        log.warning("parity uses built-in prompts: the run's dataset cannot be read (%s)", error)
        rows = []
    if not rows:
        chats = [[{"role": "user", "content": text}] for text in FALLBACK_PROMPTS[:count]]
        ids = [prompt_ids(tokenizer, chat) for chat in chats]
        return ParityPrompts(ids, ids[:GREEDY_PROMPTS], "built-in prompts")
    greedy = []
    for row in rows[:GREEDY_PROMPTS]:
        answer_at = next((i for i, t in enumerate(row.labels) if t != IGNORE_INDEX), 1)
        greedy.append(row.input_ids[: max(answer_at, 1)])
    return ParityPrompts([r.input_ids for r in rows], greedy, "held-out validation rows")


def torch_logits(model: torch.nn.Module) -> LogitsFn:
    """A logits function over a torch model (on its own device), returning float32 on CPU."""
    device = next(model.parameters()).device

    @torch.no_grad()
    def run(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device))
        return out.logits.float().cpu()

    return run


def _padded(sequences: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq)
        mask[i, : len(seq)] = 1
    return ids, mask


def compare_logits(
    reference: LogitsFn, candidate: LogitsFn, sequences: list[list[int]], pad_id: int
) -> dict[str, float]:
    """Max/mean |logit diff| and argmax agreement over the real (unpadded) positions."""
    diffs, agree, largest = [], [], 0.0
    for start in range(0, len(sequences), BATCH):
        ids, mask = _padded(sequences[start : start + BATCH], pad_id)
        ref, cand = reference(ids, mask).float(), candidate(ids, mask).float()
        real = mask.bool()
        diffs.append((ref - cand).abs()[real].amax(-1))
        agree.append((ref.argmax(-1) == cand.argmax(-1))[real])
        largest = max(largest, float(ref.abs()[real].max()))
    diff, same = torch.cat(diffs), torch.cat(agree)
    return {
        "positions": int(diff.numel()),
        "max": float(diff.max()),
        "mean": float(diff.mean()),
        "agreement": float(same.float().mean()),
        "largest": largest,
    }


def compare_greedy(
    reference: LogitsFn, candidate: LogitsFn, prompts: list[list[int]], steps: int
) -> int:
    """How many prompts decode to identical greedy tokens for `steps` tokens."""
    settings = Sampling(max_new_tokens=steps, do_sample=False)
    identical = 0
    for prompt in prompts:
        ref = decode_loop(reference, prompt, settings, stop_ids=[])
        cand = decode_loop(candidate, prompt, settings, stop_ids=[])
        identical += int(ref == cand)
        if ref != cand:
            log.warning("greedy tokens differ: reference %s, export %s", ref, cand)
    return identical


def limit_for(dtypes: list[torch.dtype]) -> float:
    """The default max |logit diff| for the least precise of the dtypes involved."""
    names = [str(d).removeprefix("torch.") for d in dtypes]
    return max(PARITY_LIMITS.get(n, PARITY_LIMITS["float32"]) for n in names)


def check_parity(
    reference: LogitsFn,
    candidate: LogitsFn,
    prompts: ParityPrompts,
    pad_id: int,
    settings: ParitySettings,
    export_format: str,
    dtypes: list[torch.dtype],
    dequantized_to: str | None = None,
) -> ParityReport:
    """Compare the export with the reference and decide against the limits."""
    stats = compare_logits(reference, candidate, prompts.sequences, pad_id)
    greedy = prompts.greedy if settings.greedy_steps > 0 else []
    identical = compare_greedy(reference, candidate, greedy, settings.greedy_steps)
    limit = settings.max_logit_diff if settings.max_logit_diff is not None else limit_for(dtypes)
    failures = []
    if not stats["max"] <= limit:  # also catches NaN
        failures.append(f"max |logit diff| {stats['max']:.3g} > {limit:g}")
    if not stats["agreement"] >= settings.min_agreement:
        failures.append(
            f"next-token agreement {stats['agreement']:.2%} < {settings.min_agreement:.2%}"
        )
    return ParityReport(
        format=export_format,
        prompt_source=prompts.source,
        prompts=len(prompts.sequences),
        positions=int(stats["positions"]),
        max_abs_logit_diff=stats["max"],
        mean_abs_logit_diff=stats["mean"],
        max_abs_logit=stats["largest"],
        next_token_agreement=stats["agreement"],
        greedy_steps=settings.greedy_steps,
        greedy_identical=identical,
        greedy_prompts=len(greedy),
        limit_max_logit_diff=limit,
        limit_min_agreement=settings.min_agreement,
        dtype=", ".join(sorted({str(d).removeprefix("torch.") for d in dtypes})),
        dequantized_to=dequantized_to,
        failures=failures,
    )
