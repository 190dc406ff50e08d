"""Pack several causal-LM examples per sequence: positions restart, no cross-attention."""

from __future__ import annotations

from framework.data.render import IGNORE_INDEX, Encoded


def pack(examples: list[Encoded], block: int) -> list[Encoded]:
    """Greedy in-order packing into sequences of at most `block` tokens.

    Each packed sequence keeps every example's labels (prompt masking survives) and carries
    position ids that restart at 0 for each example; the model builds a block-diagonal causal
    mask from them (transformers does so when attention_mask is None), so no token attends
    across examples. The first token of each example is never a target of the one before.
    """
    out: list[Encoded] = []
    ids: list[int] = []
    labels: list[int] = []
    positions: list[int] = []
    truncated = False
    for example in examples:
        if ids and len(ids) + len(example.input_ids) > block:
            out.append(Encoded(ids, labels, truncated, positions))
            ids, labels, positions, truncated = [], [], [], False
        first = IGNORE_INDEX if labels else example.labels[0]
        # The label shift pairs position t with t+1: masking this example's first label keeps
        # the previous example's last token from predicting it (unpacked, it is never a target).
        labels.extend([first, *example.labels[1:]])
        ids.extend(example.input_ids)
        positions.extend(range(len(example.input_ids)))
        truncated = truncated or example.truncated
    if ids:
        out.append(Encoded(ids, labels, truncated, positions))
    return out


def padding_ratio(lengths: list[int], batch_size: int) -> float:
    """Share of pad tokens when consecutive rows are batched and padded to the longest."""
    padded = real = 0
    for start in range(0, len(lengths), batch_size):
        chunk = lengths[start : start + batch_size]
        padded += max(chunk) * len(chunk)
        real += sum(chunk)
    return 0.0 if padded == 0 else 1.0 - real / padded
