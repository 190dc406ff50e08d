"""Capture and restore every RNG a run uses, as plain values a weights_only load accepts."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def capture_rng() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (NumPy's as lists and ints)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [
            str(kind),
            torch.from_numpy(np.asarray(keys)),
            int(pos),
            int(has_gauss),
            float(cached),
        ],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Restore what capture_rng captured."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy(), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def rng_untouched() -> Iterator[None]:
    """Run the body without moving any RNG: a run that does extra work (a validation pass
    whose result another run read from a cache) then trains exactly as one that did not."""
    state = capture_rng()
    try:
        yield
    finally:
        restore_rng(state)


def capture_rng_of_every_rank() -> list[dict[str, Any]]:
    """capture_rng() of every rank, in rank order (a collective: every rank must call it, as
    every rank does when Lightning saves a checkpoint); one entry in a single process."""
    import torch.distributed as dist

    state = capture_rng()
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [state]
    # Gathered as torch.save bytes: pickling tensors through all_gather_object fails to
    # unpickle their storages on this torch ("UntypedStorage has no attribute dtype").
    buffer = io.BytesIO()
    torch.save(state, buffer)
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, buffer.getvalue())
    return [torch.load(io.BytesIO(blob), weights_only=False) for blob in gathered]


def restore_rng_of_this_rank(states: list[dict[str, Any]]) -> None:
    """Restore this rank's entry of capture_rng_of_every_rank() (the resume check ensures the
    number of ranks is the one that saved them)."""
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    restore_rng(states[rank])
