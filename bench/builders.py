"""The framework's own builders, for the bench workers (raw loop, TRL): the rows, tokenizer,
encoder, base model and LoRA settings a `train.py` run of the same overrides would use."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def framework_data(cfg: Any) -> tuple[Any, Any]:
    """The tokenizer and the (not yet encoded) datamodule a run of `cfg` uses: the framework's
    own builders, so rows, split and encoder are the ones train.py trains on."""
    from framework.builders.data import build_datamodule
    from framework.builders.model import build_source, build_tokenizer

    cache_dir = Path(str(cfg.paths.cache_dir))
    tokenizer = build_tokenizer(cfg.model, build_source(cfg.model), cache_dir)
    return tokenizer, build_datamodule(cfg.dataset, tokenizer=tokenizer, seed=int(cfg.run.seed))


def framework_base(cfg: Any, tokenizer: Any) -> Any:
    """The base model exactly as the framework loads it (its builder, same seed and vocab)."""
    from framework.builders.model import base_model_factory

    return base_model_factory(cfg, tokenizer=tokenizer, quantization=None)()


def lora_settings(cfg: Any) -> dict[str, Any]:
    """peft.LoraConfig arguments equal to the run's method=lora settings."""
    from framework.builders.method import apply_context

    method = cfg.method
    return {
        "r": int(method.r),
        "lora_alpha": int(method.alpha),
        "lora_dropout": float(method.dropout),
        "target_modules": list(method.target_modules) or list(apply_context(cfg).target_modules),
        "task_type": "CAUSAL_LM",
    }
