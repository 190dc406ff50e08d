"""Preference losses (DPO and its IPO/hinge variants, ORPO, KTO, SimPO) from log-probabilities.

Pure functions of per-sequence log-probabilities, one value per example (the objectives in
framework.tasks.objectives compute the log-probabilities; tests/test_preference_losses.py checks
each formula against the papers'). `logps` are sums over the reply's tokens, `avg` their mean
per token.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.functional import logsigmoid, relu

LOSSES = ("sigmoid", "ipo", "hinge")  # task.preference.loss (DPO; SimPO: sigmoid or hinge)
REFERENCES = ("auto", "adapter_off", "precomputed", "frozen_copy")


@dataclass(frozen=True)
class PreferenceSpec:
    """Hyperparameters of a preference objective (flat, from task.preference)."""

    beta: float = 0.1
    loss: str = "sigmoid"
    label_smoothing: float = 0.0
    simpo_gamma: float = 0.5
    orpo_lambda: float = 0.1
    kto_desirable_weight: float = 1.0
    kto_undesirable_weight: float = 1.0
    reference: str = "auto"


def dpo_losses(
    chosen: torch.Tensor,
    rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
    loss: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """DPO (Rafailov et al. 2023) per pair; `ipo` (Azar et al. 2023), `hinge` (SLiC, Zhao et al.
    2023); label smoothing is conservative DPO (the label flipped with that probability)."""
    h = (chosen - ref_chosen) - (rejected - ref_rejected)
    if loss == "sigmoid":
        return -(1 - label_smoothing) * logsigmoid(beta * h) - label_smoothing * logsigmoid(
            -beta * h
        )
    if loss == "ipo":
        return (h - 1 / (2 * beta)) ** 2
    if loss == "hinge":
        return relu(1 - beta * h)
    raise ValueError(f"unknown preference loss {loss!r} (allowed: {', '.join(LOSSES)})")


def simpo_losses(
    avg_chosen: torch.Tensor,
    avg_rejected: torch.Tensor,
    beta: float,
    gamma: float,
    loss: str = "sigmoid",
    label_smoothing: float = 0.0,
) -> torch.Tensor:
    """SimPO (Meng et al. 2024): length-normalised log-probabilities, a target margin gamma."""
    z = beta * (avg_chosen - avg_rejected) - gamma
    if loss == "hinge":
        return relu(1 - z)
    return -(1 - label_smoothing) * logsigmoid(z) - label_smoothing * logsigmoid(-z)


def log_odds(avg: torch.Tensor) -> torch.Tensor:
    """log(P / (1 - P)) of P = exp(mean token log-probability), stable near P = 1."""
    return avg - torch.log1p(-torch.exp(avg.clamp(max=-1e-7)))


def orpo_losses(
    avg_chosen: torch.Tensor, avg_rejected: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """ORPO (Hong et al. 2024) per pair: the chosen reply's token-mean NLL plus lambda times the
    odds-ratio loss; also returns the log odds ratio."""
    ratio = log_odds(avg_chosen) - log_odds(avg_rejected)
    return -avg_chosen - lam * logsigmoid(ratio), ratio


def kto_kl(policy_kl: torch.Tensor, ref_kl: torch.Tensor) -> torch.Tensor:
    """KTO's reference point z0: the batch's mean KL estimate on mismatched replies, >= 0, no
    gradient."""
    return (policy_kl - ref_kl).mean().clamp(min=0).detach()


def kto_losses(
    logps: torch.Tensor,
    ref_logps: torch.Tensor,
    desirable: torch.Tensor,
    kl: torch.Tensor,
    beta: float,
    desirable_weight: float = 1.0,
    undesirable_weight: float = 1.0,
) -> torch.Tensor:
    """KTO (Ethayarajh et al. 2024) per row: lambda_D (1 - s(beta (r - z0))) for desirable rows,
    lambda_U (1 - s(beta (z0 - r))) for undesirable ones, r the log-ratio to the reference."""
    r = logps - ref_logps
    good = desirable_weight * (1 - torch.sigmoid(beta * (r - kl)))
    bad = undesirable_weight * (1 - torch.sigmoid(beta * (kl - r)))
    return torch.where(desirable, good, bad)
