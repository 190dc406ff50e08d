"""Batch collation: right-pad token rows into tensors, with the counts the step logs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from framework.data.render import IGNORE_INDEX, Encoded


def pad_batch(
    batch: Sequence[Encoded], pad_id: int, extra: dict[str, torch.Tensor] | None = None
) -> dict[str, Any]:
    """Right-pad token rows; padding gets no attention and no loss.

    Packed rows carry position ids instead of a 2-D mask: transformers then masks attention
    block-diagonally per example (pads form their own block and carry no loss). The batch also
    holds `token_count` (non-pad tokens) and `label_count` (labelled tokens) as plain ints,
    counted here on the host so the step loop never reads them back from the device.
    """
    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    packed = batch[0].position_ids is not None
    positions = torch.zeros((len(batch), width), dtype=torch.long)
    for i, e in enumerate(batch):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
        if e.position_ids is not None:
            positions[i, :n] = torch.tensor(e.position_ids)
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    if packed:
        out["position_ids"] = positions
    out["token_count"] = sum(len(e.input_ids) for e in batch)
    out["label_count"] = sum(1 for e in batch for t in e.labels if t != IGNORE_INDEX)
    return out | (extra or {})
