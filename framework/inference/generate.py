"""Generate replies with the run's chat template, stopping at the tokenizer's EOS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch

from framework.errors import UserError

log = logging.getLogger(__name__)

# (input_ids, attention_mask) -> logits [batch, sequence, vocab]; torch or onnxruntime behind it.
LogitsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Message = dict[str, str]


@dataclass(frozen=True)
class Sampling:
    """Decoding settings: greedy unless do_sample."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float = 0.7
    top_p: float = 0.9


class ReplyEngine(Protocol):
    """Anything that answers a conversation (torch model or ONNX session)."""

    def reply(self, messages: list[Message]) -> str: ...


def conversation(history: list[Message], system_prompt: str | None) -> list[Message]:
    """The messages sent to the chat template: optional system prompt, then the history."""
    if system_prompt and (not history or history[0]["role"] != "system"):
        return [{"role": "system", "content": system_prompt}, *history]
    return list(history)


def prompt_ids(tokenizer: Any, messages: list[Message]) -> list[int]:
    """Token ids of the conversation plus the assistant generation prompt, as in training."""
    if tokenizer.chat_template is None:  # the plain rendering of framework.data.render
        eos = tokenizer.eos_token or ""
        text = "".join(m["content"] + (eos if m["role"] == "assistant" else "\n") for m in messages)
    else:
        from framework.data.render import render_prompt

        text = render_prompt(tokenizer, messages)  # the same function training masks from
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_context(prompt: list[int], sampling: Sampling, context: int | None) -> Sampling:
    """The sampling settings for this prompt within the model's context: a prompt that does
    not fit is refused; the reply is shortened (with a warning) to end at the context's end."""
    if context is None:
        return sampling
    room = context - len(prompt)
    if room < 1:
        raise UserError(
            f"the prompt is {len(prompt)} tokens and the model's context is {context}: shorten "
            "the prompt (in a chat, /reset clears the history)"
        )
    if room >= sampling.max_new_tokens:
        return sampling
    log.warning(
        "the reply is limited to %d new tokens (max_new_tokens=%d): the prompt takes %d of "
        "the model's %d-token context",
        room,
        sampling.max_new_tokens,
        len(prompt),
        context,
    )
    return replace(sampling, max_new_tokens=room)


def context_length(model: Any) -> int | None:
    """The model's context length (max_position_embeddings), when its config names one."""
    config = getattr(getattr(model, "base_model", model), "config", None)
    value = getattr(config, "max_position_embeddings", None)
    return int(value) if isinstance(value, int) else None


def stop_token_ids(tokenizer: Any, model: Any | None = None) -> list[int]:
    """The tokenizer's EOS, plus any EOS ids in the model's generation config."""
    ids = [int(tokenizer.eos_token_id)] if tokenizer.eos_token_id is not None else []
    config = getattr(model, "generation_config", None)
    extra = getattr(config, "eos_token_id", None)
    for token in extra if isinstance(extra, list) else [extra]:
        if token is not None and int(token) not in ids:
            ids.append(int(token))
    return ids


def cut_at_stop(tokens: list[int], stop_ids: list[int]) -> list[int]:
    """Tokens before the first stop token."""
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return tokens[:index]
    return tokens


def pick_next(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None) -> int:
    """Next token from one row of logits: argmax, or temperature + top-p sampling."""
    if not sampling.do_sample:
        return int(logits.argmax())
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    sorted_probs, order = probs.sort(descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < sampling.top_p
    sorted_probs = sorted_probs * keep
    choice = torch.multinomial(sorted_probs / sorted_probs.sum(), 1, generator=generator)
    return int(order[choice])


def decode_loop(
    logits_fn: LogitsFn,
    prompt: list[int],
    sampling: Sampling,
    stop_ids: list[int],
    generator: torch.Generator | None = None,
) -> list[int]:
    """Generate token by token over a full-sequence logits function; stop at a stop id."""
    ids = list(prompt)
    for _ in range(sampling.max_new_tokens):
        input_ids = torch.tensor([ids], dtype=torch.long)
        logits = logits_fn(input_ids, torch.ones_like(input_ids))[0, -1]
        token = pick_next(logits, sampling, generator)
        if token in stop_ids:
            break
        ids.append(token)
    return ids[len(prompt) :]


@torch.no_grad()
def generate_tokens(
    model: Any, prompt: list[int], sampling: Sampling, stop_ids: list[int], pad_id: int
) -> list[int]:
    """New tokens from a transformers/PEFT model's generate(), without the stop token."""
    device = next(model.parameters()).device
    input_ids = torch.tensor([prompt], dtype=torch.long, device=device)
    extra = (
        {"temperature": sampling.temperature, "top_p": sampling.top_p} if sampling.do_sample else {}
    )
    output = model.generate(
        input_ids=input_ids,
        attention_mask=torch.ones_like(input_ids),
        max_new_tokens=sampling.max_new_tokens,
        do_sample=sampling.do_sample,
        eos_token_id=stop_ids,
        pad_token_id=pad_id,
        **extra,
    )
    return cut_at_stop(output[0, len(prompt) :].tolist(), stop_ids)


class TorchEngine:
    """Replies from the trained model (base + adapter, or the full model)."""

    def __init__(self, model: Any, tokenizer: Any, sampling: Sampling) -> None:
        self.model, self.tokenizer, self.sampling = model, tokenizer, sampling
        self.stop_ids = stop_token_ids(tokenizer, model)

    def reply(self, messages: list[Message]) -> str:
        prompt = prompt_ids(self.tokenizer, messages)
        sampling = fit_context(prompt, self.sampling, context_length(self.model))
        tokens = generate_tokens(
            self.model, prompt, sampling, self.stop_ids, int(self.tokenizer.pad_token_id)
        )
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True)).strip()


class LogitsEngine:
    """Replies from any full-sequence logits function (the ONNX export through onnxruntime)."""

    def __init__(
        self,
        logits_fn: LogitsFn,
        tokenizer: Any,
        sampling: Sampling,
        seed: int = 0,
        context: int | None = None,
    ) -> None:
        self.logits_fn, self.tokenizer, self.sampling = logits_fn, tokenizer, sampling
        self.context = context
        self.stop_ids = stop_token_ids(tokenizer)
        self.generator = torch.Generator().manual_seed(seed)

    def reply(self, messages: list[Message]) -> str:
        prompt = prompt_ids(self.tokenizer, messages)
        sampling = fit_context(prompt, self.sampling, self.context)
        tokens = decode_loop(self.logits_fn, prompt, sampling, self.stop_ids, self.generator)
        return str(self.tokenizer.decode(tokens, skip_special_tokens=True)).strip()
