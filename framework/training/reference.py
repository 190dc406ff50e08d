"""The reference model of DPO and KTO: the base with the adapter off, log-probabilities computed
once before training, or a frozen copy of the base (task.preference.reference)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch

from framework.tasks.preference_objectives import PreferenceObjective

log = logging.getLogger(__name__)

LogpsFn = Callable[[torch.nn.Module, dict[str, Any]], tuple[torch.Tensor, torch.Tensor]]


class AdapterOff:
    """The base model as the reference: the same weights with the adapter disabled (peft's
    disable_adapter context), so no second copy of the weights is held."""

    def __init__(self, logps: LogpsFn) -> None:
        self.logps = logps

    def __call__(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        with torch.no_grad(), net.disable_adapter():  # type: ignore[operator]
            return self.logps(net, batch)[0]


class FrozenCopy:
    """A second, frozen copy of the base (task.preference.reference=frozen_copy)."""

    def __init__(self, model: torch.nn.Module, logps: LogpsFn) -> None:
        self.model, self.logps = model, logps

    def __call__(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        with torch.no_grad():
            return self.logps(self.model, batch)[0]


class Precomputed:
    """Reference log-probabilities of every example, computed once from the untrained model
    before training, looked up by the example's content key (saved in checkpoints)."""

    def __init__(self, table: dict[int, torch.Tensor] | None = None) -> None:
        self.table: dict[int, torch.Tensor] = dict(table or {})

    def fill(
        self,
        net: torch.nn.Module,
        examples: list[Any],
        collate: Callable[[list[Any]], dict[str, Any]],
        logps: LogpsFn,
        batch_size: int,
        device: torch.device,
    ) -> None:
        todo = [e for e in examples if e.uid not in self.table]
        if not todo:
            return
        was_training = net.training
        net.eval()
        with torch.no_grad():
            for start in range(0, len(todo), batch_size):
                chunk = todo[start : start + batch_size]
                batch = {
                    k: v.to(device) if isinstance(v, torch.Tensor) else v
                    for k, v in collate(chunk).items()
                }
                values = logps(net, batch)[0].float().cpu()
                half = len(chunk)
                for i, example in enumerate(chunk):
                    self.table[example.uid] = torch.stack([values[i], values[half + i]])
        net.train(was_training)
        log.info("reference log-probabilities computed for %d examples", len(todo))

    def __call__(self, net: torch.nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        try:
            rows = torch.stack([self.table[int(u)] for u in batch["uid"].tolist()])
        except KeyError as missing:
            raise RuntimeError(f"no reference log-probabilities for example {missing}") from None
        return torch.cat([rows[:, 0], rows[:, 1]]).to(batch["input_ids"].device)


def resolve_mode(mode: str, net: torch.nn.Module, produces_adapter: bool) -> str:
    """auto: the adapter switched off when the method trains a peft adapter, else precomputed."""
    if mode != "auto":
        return mode
    return "adapter_off" if produces_adapter and hasattr(net, "disable_adapter") else "precomputed"


def attach_reference(module: Any, objective: PreferenceObjective) -> None:
    """Give the objective its reference before the first validation or training step."""
    if not objective.uses_reference:
        return
    net = module.net
    mode = resolve_mode(objective.spec.reference, net, module.method.capabilities.produces_adapter)
    if mode == "adapter_off":
        if not hasattr(net, "disable_adapter"):
            raise RuntimeError(f"method={module.method.name}: the model has no adapter to disable")
        if not isinstance(objective.reference, AdapterOff):
            objective.reference = AdapterOff(objective.sequence_logps)
    elif mode == "frozen_copy":
        if not isinstance(objective.reference, FrozenCopy):
            copy = module.build_base().to(module.device)
            copy.requires_grad_(False)
            copy.eval()
            objective.reference = FrozenCopy(copy, objective.sequence_logps)
    else:
        if not isinstance(objective.reference, Precomputed):
            objective.reference = Precomputed()
        table = objective.reference
        data = module.trainer.datamodule
        examples = [*data.train_set, *data.val_set]
        if any(e.uid not in table.table for e in examples):
            if module.global_step > 0:
                raise RuntimeError(
                    "reference log-probabilities are missing after training started (they are "
                    "computed from the untrained model and saved in checkpoints)"
                )
            table.fill(
                net,
                examples,
                data.collate,
                objective.sequence_logps,
                int(data.eval_batch_size),
                module.device,
            )
