"""dataset.group_by_length: batches of similar lengths, still every row once per epoch, the same
order on every run, exact after a resume and across data-parallel ranks."""

from __future__ import annotations

import random

import torch

from framework.data.sampler import MEGABATCH, LengthGrouping, ResumableSampler

ROWS = 500
RNG = random.Random(7)
LENGTHS = [RNG.randint(4, 400) for _ in range(ROWS)]


def sampler(batch: int = 4, ranks: int = 1, rank: int = 0, seed: int = 3) -> ResumableSampler:
    return ResumableSampler(ROWS, seed, ranks, rank, LengthGrouping(LENGTHS, batch))


def padded_tokens(order: list[int], batch: int) -> int:
    """Tokens the batches of `order` hold once each is padded to its longest row."""
    chunks = [order[i : i + batch] for i in range(0, len(order), batch)]
    return sum(len(c) * max(LENGTHS[i] for i in c) for c in chunks)


def test_every_row_once_with_far_less_padding_and_the_longest_batch_first() -> None:
    grouped, shuffled = list(sampler()), list(ResumableSampler(ROWS, 3))
    assert sorted(grouped) == list(range(ROWS))
    real = sum(LENGTHS)
    grouped_pad = padded_tokens(grouped, 4) - real
    shuffled_pad = padded_tokens(shuffled, 4) - real
    assert grouped_pad < shuffled_pad / 10, (grouped_pad, shuffled_pad)
    assert max(LENGTHS[i] for i in grouped[:4]) == max(LENGTHS)
    # Only rows of the same megabatch (50 batches of the shuffled order) share a batch.
    megabatch = {i: n // (4 * MEGABATCH) for n, i in enumerate(shuffled)}
    for start in range(0, ROWS, 4):
        assert len({megabatch[i] for i in grouped[start : start + 4]}) == 1


def test_same_seed_same_order_and_each_epoch_reshuffles() -> None:
    first, again = sampler(), sampler()
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(again) != list(first) and sorted(again) == list(range(ROWS))
    assert list(sampler(seed=4)) != list(first)


def test_a_resume_continues_the_grouped_order() -> None:
    whole = list(sampler())
    resumed = sampler()
    resumed.resume_at(0, 40)
    assert list(resumed) == whole[40:]


def test_two_ranks_together_see_the_single_process_batches() -> None:
    single = list(sampler(batch=4))  # one process, batch 4 == two ranks x batch 2
    ranks = [list(sampler(batch=2, ranks=2, rank=r)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1])
    for step in range(ROWS // 4):
        together = ranks[0][2 * step : 2 * step + 2] + ranks[1][2 * step : 2 * step + 2]
        assert sorted(together) == sorted(single[4 * step : 4 * step + 4])


def test_a_short_last_batch_stays_last() -> None:
    lengths = list(range(10, 110, 10))  # rows 0..9, row 9 the longest
    order = LengthGrouping(lengths, 4).arrange(list(range(10)), 1, torch.Generator())
    # sorted batches [9 8 7 6] [5 4 3 2] [1 0]: the full ones shuffled, the longest first,
    # the short one (the shortest rows) last, so every rank's later batches stay aligned
    assert order[:4] == [9, 8, 7, 6] and order[4:8] == [5, 4, 3, 2] and order[8:] == [1, 0]
