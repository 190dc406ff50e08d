"""After saving, reload the weights from disk into a fresh base and compare logits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


def load_saved(weights_dir: Path, build_base: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The saved adapter on a fresh base (PeftModel.from_pretrained) or the saved full model."""
    if (weights_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(build_base(), str(weights_dir))
    import transformers

    config = transformers.AutoConfig.from_pretrained(str(weights_dir))
    names = config.architectures or ["AutoModelForCausalLM"]  # the saved head's class
    return getattr(transformers, names[0]).from_pretrained(str(weights_dir))  # type: ignore[no-any-return]


@torch.no_grad()
def max_logit_difference(
    trained: torch.nn.Module, reloaded: torch.nn.Module, batch: dict[str, torch.Tensor]
) -> float:
    """Largest absolute logit difference between two models on one batch (eval mode)."""
    was_training = trained.training
    trained.eval()
    reloaded.eval()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    length = batch["input_ids"].size(1)  # prompt methods prepend virtual-token logits
    a = _logits(trained(**inputs))
    b = _logits(reloaded(**inputs))
    trained.train(was_training)
    if a.dim() == 2:  # one row of logits per sequence (classification head)
        return float((a - b).abs().max())
    mask = batch["attention_mask"].bool()
    return float((a[:, -length:] - b[:, -length:]).abs()[mask].max())


def _logits(output: Any) -> torch.Tensor:
    """Token or sequence logits; a span head's start and end logits side by side."""
    if getattr(output, "logits", None) is not None:
        return output.logits.float()  # type: ignore[no-any-return]
    return torch.stack([output.start_logits, output.end_logits], dim=-1).float()
