"""Conformance kit: compose a method on the tiny model, train it a few steps, save and reload."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from framework.builders.method import apply_context, build_method
from framework.config.schema import RandomInitConfig
from framework.methods.base import ApplyContext, Method
from framework.models.loader import BaseSpec, load_causal_lm
from framework.models.source import ModelSource
from framework.tasks.objectives import token_loss_sum
from framework.training.module import FineTuneModule
from framework.training.optim import OptimizerSpec
from tests.helpers import compose_config

TINY_INIT = RandomInitConfig()  # 2 layers, hidden 64, 4 heads, 2 kv heads, MLP 128
VOCAB = 256  # random token ids: no tokenizer needed in-process
SEED = 0
BATCH, LENGTH = 2, 16
NO_SOURCE = ModelSource("local", "(random init)", cache_key="tiny")  # unused for random_init


def compose_run(overrides: list[str]) -> DictConfig:
    """The composed train config on the tiny model, with overrides."""
    return compose_config(overrides)


def build_base(method: Method[Any]) -> torch.nn.Module:
    """The tiny random base, loaded quantized when the method asks (as the run would)."""
    with tempfile.TemporaryDirectory() as cache:
        spec = BaseSpec(
            NO_SOURCE, Path(cache), "float32", False, TINY_INIT, VOCAB, SEED, method.quantization()
        )
        return load_causal_lm(spec)


def fixed_batch() -> dict[str, torch.Tensor]:
    """One deterministic batch of random tokens, every position labelled."""
    generator = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=generator)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}


@torch.no_grad()
def logits_of(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Eval-mode logits at the input positions (virtual-token positions dropped)."""
    was_training = model.training
    model.eval()
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    model.train(was_training)
    return out[:, -batch["input_ids"].size(1) :].float()


def eval_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """Mean next-token loss of the batch in eval mode (the module's own loss function)."""
    loss_sum, count = token_loss_sum(logits_of(model, batch), batch["labels"])
    return float(loss_sum / count)


@dataclass
class Trained:
    """A method applied to the tiny base and trained a few steps on one batch."""

    name: str
    cfg: DictConfig
    method: Method[Any]
    ctx: ApplyContext
    module: FineTuneModule
    batch: dict[str, torch.Tensor]
    loss_before: float
    loss_after: float
    frozen_changed: list[str]  # frozen parameters whose values moved (must be empty)
    lr_by_param: dict[str, float]  # learning rate of every optimized parameter

    @property
    def net(self) -> torch.nn.Module:
        return self.module.net

    def trainable(self) -> dict[str, int]:
        return {n: p.numel() for n, p in self.net.named_parameters() if p.requires_grad}


def train_method(name: str, lr: float, steps: int, overrides: list[str]) -> Trained:
    """Compose `method=<name>`, apply it through FineTuneModule and train `steps` steps."""
    cfg = compose_run([f"method={name}", f"trainer.max_steps={steps}", *overrides])
    method = build_method(cfg.method)
    ctx = apply_context(cfg)
    spec = OptimizerSpec("adamw", lr, 0.0, (0.9, 0.999), 1e-8, 0.0, "constant", 0, steps)
    torch.manual_seed(SEED)
    module = FineTuneModule(lambda: build_base(method), method, ctx, spec)
    module.configure_model()
    net = module.net
    frozen = {n: p.detach().clone() for n, p in net.named_parameters() if not p.requires_grad}
    optimizers = module.configure_optimizers()
    optimizer, scheduler = optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]
    names = {id(p): n for n, p in net.named_parameters()}
    lr_by_param = {names[id(p)]: g["lr"] for g in optimizer.param_groups for p in g["params"]}
    batch = fixed_batch()
    before = eval_loss(net, batch)
    net.train()
    for step in range(steps):
        logits = module(batch["input_ids"], batch["attention_mask"])
        loss_sum, count = token_loss_sum(logits, batch["labels"])
        (loss_sum / count).backward()
        optimizer.step()
        scheduler.step()
        method.on_train_step_end(net, step)
        optimizer.zero_grad()
    after = eval_loss(net, batch)
    moved = [n for n, p in net.named_parameters() if n in frozen and not torch.equal(p, frozen[n])]
    return Trained(name, cfg, method, ctx, module, batch, before, after, moved, lr_by_param)


def save_weights(trained: Trained, folder: Path) -> None:
    """What the run dir holds: the adapter in PEFT format, or the whole model."""
    trained.net.save_pretrained(str(folder), safe_serialization=True)  # type: ignore[operator]


def reload_weights(trained: Trained, folder: Path) -> torch.nn.Module:
    """The saved weights on a fresh base (PeftModel.from_pretrained), or the saved model."""
    if trained.method.capabilities.produces_adapter:
        from peft import PeftModel

        return PeftModel.from_pretrained(build_base(trained.method), str(folder))
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder))
