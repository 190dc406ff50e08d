"""Load a run for inference: rebuild its base from config.yaml, then add its saved weights."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from framework.errors import UserError
from framework.inference.run_dir import RunDir
from framework.methods.base import Method

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """auto: cuda when available, else cpu; cuda without a GPU is a UserError."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available (allowed: auto, cpu, cuda)")
    return torch.device(name)


def run_method(run: RunDir) -> Method[Any]:
    """The run's method, built from its resolved config (built-ins registered on demand)."""
    from framework.builders.method import build_method
    from framework.methods.builtin import load_builtins

    load_builtins()
    return build_method(run.cfg.method)


def load_run_tokenizer(run: RunDir) -> Any:
    """The tokenizer the run saved (chat template and EOS exactly as in training)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(run.tokenizer_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def base_factory(
    run: RunDir, tokenizer: Any, labels: tuple[str, ...] = ()
) -> Callable[[], torch.nn.Module]:
    """A zero-argument callable building the run's base (with its task head) as training did."""
    from framework.builders.model import base_model_factory

    return base_model_factory(
        run.cfg, tokenizer=tokenizer, quantization=run_method(run).quantization(), labels=labels
    )


def load_model(
    run: RunDir,
    tokenizer: Any,
    device: torch.device | None = None,
    labels: tuple[str, ...] = (),
) -> torch.nn.Module:
    """The trained model in eval mode: base + adapter (PEFT) or the saved full model."""
    if run.has_adapter:
        from peft import PeftModel

        base = base_factory(run, tokenizer, labels)()
        model: torch.nn.Module = PeftModel.from_pretrained(base, str(run.adapter_dir))
    else:
        import transformers

        from framework.tasks.registry import task_spec

        auto = getattr(transformers, task_spec(run.task).head)
        dtype = getattr(torch, str(run.cfg.model.dtype))
        model = auto.from_pretrained(str(run.model_dir), dtype=dtype)
    model.eval()
    if device is not None and not is_quantized(model):
        model.to(device)
    return model


def is_quantized(model: torch.nn.Module) -> bool:
    """Whether any module holds bitsandbytes-quantized weights."""
    return any(type(m).__module__.startswith("bitsandbytes") for m in model.modules())


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of the model's first parameter."""
    return next(model.parameters()).device
