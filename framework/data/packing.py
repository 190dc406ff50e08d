"""Pack several causal-LM examples per sequence: positions restart, no cross-attention."""

from __future__ import annotations

import bisect

from framework.data.render import IGNORE_INDEX, Encoded


def pack(examples: list[Encoded], block: int) -> list[Encoded]:
    """Best-fit-decreasing packing into sequences of at most `block` tokens.

    Longest examples first, each into the fullest sequence it still fits (a new one when none
    does), so sequences come out nearly full and a batch of them carries almost no padding.
    Each packed sequence keeps every example's labels (prompt masking survives) and carries
    position ids that restart at 0 for each example; the model builds a block-diagonal causal
    mask from them (transformers does so when attention_mask is None), so no token attends
    across examples. Each example's first label is masked: the label shift pairs position t
    with t+1, and unpacked the first token is never a target either (so packed rows may also
    be flattened into one row).
    """
    order = sorted(range(len(examples)), key=lambda i: -len(examples[i].input_ids))
    bins: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (room left, bin index), sorted
    for i in order:
        size = len(examples[i].input_ids)
        at = bisect.bisect_left(free, (size, -1))
        if at < len(free):
            room, b = free.pop(at)
        else:
            room, b = block, len(bins)
            bins.append([])
        bins[b].append(i)
        if room - size > 0:
            bisect.insort(free, (room - size, b))
    return [_joined([examples[i] for i in members]) for members in bins]


def _joined(examples: list[Encoded]) -> Encoded:
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    for example in examples:
        ids.extend(example.input_ids)
        labels.extend([IGNORE_INDEX, *example.labels[1:]])
        positions.extend(range(len(example.input_ids)))
    return Encoded(ids, labels, any(e.truncated for e in examples), positions)


def padding_ratio(lengths: list[int], batch_size: int) -> float:
    """Share of pad tokens when consecutive rows are batched and padded to the longest."""
    padded = real = 0
    for start in range(0, len(lengths), batch_size):
        chunk = lengths[start : start + batch_size]
        padded += max(chunk) * len(chunk)
        real += sum(chunk)
    return 0.0 if padded == 0 else 1.0 - real / padded
