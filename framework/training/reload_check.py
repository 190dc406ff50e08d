"""After saving, reload the weights from disk into a fresh base and compare logits."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch


def load_saved(weights_dir: Path, build_base: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """The saved adapter on a fresh base (PeftModel.from_pretrained) or the saved full model."""
    if (weights_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        return PeftModel.from_pretrained(build_base(), str(weights_dir))
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(weights_dir))


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
    a = trained(**inputs).logits[:, -length:].float()
    b = reloaded(**inputs).logits[:, -length:].float()
    trained.train(was_training)
    mask = batch["attention_mask"].bool()
    return float((a - b).abs()[mask].max())
