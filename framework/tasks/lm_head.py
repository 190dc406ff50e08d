"""The LM head and cross-entropy on labelled positions only (causal LM and preference tasks).

A training forward of a causal LM computes full-vocabulary logits on every position, although
most positions (prompts, padding) carry no label. Here the decoder runs alone, the hidden states
of the positions whose next token is a target are gathered, and only those go through the LM
head and the loss. The result equals the full forward's per-token loss to float tolerance.

Labels are shifted (a view, no copy of the logits). An architecture whose head does more than a
linear layer (logit scaling), a prompt-learning PEFT method (virtual tokens prepended by the
wrapper) and an FSDP2-sharded root (its parameters are gathered by the root's own forward) take
the full forward instead, logged once per reason.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from framework.data.render import IGNORE_INDEX

log = logging.getLogger(__name__)

# Config attributes of heads that scale their logits (Cohere, Granite, ...): full forward there.
SCALED_HEAD_ATTRIBUTES = ("logit_scale", "logits_scaling", "output_multiplier_scale")
_logged: set[str] = set()


@dataclass(frozen=True)
class SplitLM:
    """The decoder (embeddings and blocks) and the LM head of a causal LM, and its softcap."""

    decoder: torch.nn.Module
    head: torch.nn.Module
    softcap: float | None = None

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(hidden)
        if self.softcap:  # Gemma 2: tanh-capped logits
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def _fallback(reason: str) -> None:
    if reason not in _logged:
        _logged.add(reason)
        log.info("LM head on every position (full forward): %s", reason)


def split_lm(net: torch.nn.Module) -> SplitLM | None:
    """The decoder/head split of `net` (a transformers causal LM, PEFT-wrapped or not), or None
    where the full forward is needed (logged once per reason)."""
    peft_config = getattr(net, "active_peft_config", None)
    if peft_config is not None and getattr(peft_config, "is_prompt_learning", False):
        _fallback("a prompt-learning method prepends virtual tokens in its own forward")
        return None
    if type(net).__name__.startswith("FSDP"):  # FSDP2 wraps the class: FSDPLlamaForCausalLM
        _fallback("FSDP2 gathers the root's parameters in the root's forward")
        return None
    get_base = getattr(net, "get_base_model", None)
    base = get_base() if callable(get_base) else net
    get_decoder = getattr(base, "get_decoder", None)
    get_head = getattr(base, "get_output_embeddings", None)
    if not (callable(get_decoder) and callable(get_head)):
        _fallback(f"{type(base).__name__} has no get_decoder/get_output_embeddings")
        return None
    decoder, head = get_decoder(), get_head()
    if decoder is base or head is None:
        _fallback(f"{type(base).__name__} has no separate decoder and LM head")
        return None
    config = getattr(base, "config", None)
    scaled = [a for a in SCALED_HEAD_ATTRIBUTES if getattr(config, a, None) not in (None, 1, 1.0)]
    if scaled:
        _fallback(f"{type(base).__name__} scales its logits ({', '.join(scaled)})")
        return None
    softcap = getattr(config, "final_logit_softcapping", None)
    return SplitLM(decoder, head, float(softcap) if softcap else None)


def uses_flash_attention(net: torch.nn.Module) -> bool:
    """Whether the model attends with a FlashAttention kernel (varlen from position ids)."""
    implementation = getattr(getattr(net, "config", None), "_attn_implementation", None)
    return str(implementation or "").startswith("flash")


def shifted_targets(labels: torch.Tensor) -> torch.Tensor:
    """The target of each position: the next position's label (the last position: none)."""
    return torch.nn.functional.pad(labels[:, 1:], (0, 1), value=IGNORE_INDEX)


def labelled_token_nll(
    net: torch.nn.Module, inputs: dict[str, Any], labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token negative log-likelihood of every labelled position, and the row (batch index)
    each belongs to: 1-D tensors, in row-major order of the positions."""
    targets = shifted_targets(labels)
    keep = targets != IGNORE_INDEX
    rows = keep.nonzero()[:, 0]
    if "position_ids" in inputs and labels.size(0) > 1 and uses_flash_attention(net):
        # FlashAttention reads packed sequences from position ids only in a single row: flatten
        # (each example's first label is masked, so no row's last token targets the next row).
        inputs = {k: v.reshape(1, -1) if torch.is_tensor(v) else v for k, v in inputs.items()}
        targets, keep = targets.reshape(1, -1), keep.reshape(1, -1)
        labels = labels.reshape(1, -1)
    split = split_lm(net)
    if split is None:
        logits = net(**inputs).logits[:, -labels.size(1) :]  # prompt methods prepend tokens
        picked = logits[keep]
    else:
        hidden = split.decoder(**inputs).last_hidden_state
        picked = split.logits(hidden[keep])
    nll = torch.nn.functional.cross_entropy(picked.float(), targets[keep], reduction="none")
    return nll, rows
