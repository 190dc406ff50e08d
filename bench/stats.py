"""Paired comparisons: interleaved A/B pairs, per-pair ratios, a bootstrap 95% interval, and a
verdict against a goal (met / not met / inconclusive).

The statistic is the geometric mean of the per-pair ratios (the mean of their logarithms,
exponentiated): a pair's two runs share the load of the moment, so their ratio cancels most of
it, and the geometric mean treats 1.1 and 1/1.1 alike. The interval is the percentile bootstrap
of that statistic over pairs (10,000 resamples, fixed seed).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

RESAMPLES = 10_000


def order(pair: int) -> tuple[str, str]:
    """Which side runs first in pair `pair`: A then B, then B then A, alternating."""
    return ("a", "b") if pair % 2 == 0 else ("b", "a")


def geometric_mean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def bootstrap_interval(ratios: list[float], seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap 95% interval of the geometric mean of `ratios` (resampling pairs)."""
    if len(ratios) < 2:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    logs = [math.log(r) for r in ratios]
    n = len(logs)
    means = sorted(sum(rng.choice(logs) for _ in range(n)) / n for _ in range(RESAMPLES))
    low, high = means[int(0.025 * RESAMPLES)], means[int(0.975 * RESAMPLES) - 1]
    return (math.exp(low), math.exp(high))


def verdict(low: float, high: float, goal: float, at_most: bool) -> str:
    """met when the whole interval is on the goal's side, not met when it is wholly on the
    other side, inconclusive otherwise (also with fewer than two pairs)."""
    if math.isnan(low) or math.isnan(high):
        return "inconclusive"
    if at_most:
        return "met" if high <= goal else "not met" if low > goal else "inconclusive"
    return "met" if low >= goal else "not met" if high < goal else "inconclusive"


@dataclass
class Comparison:
    """A/B pairs of one metric: the per-pair values, their ratios, the statistic, the interval."""

    name: str
    metric: str
    a: list[float]
    b: list[float]
    ratios: list[float]
    ratio: float
    low: float
    high: float
    goal: float | None = None
    at_most: bool = True
    verdict: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def interval(self) -> str:
        if math.isnan(self.low):
            return f"{self.ratio:.3f} (one pair: no interval)"
        return f"{self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}]"

    def goal_text(self) -> str:
        if self.goal is None:
            return "-"
        sign = "<=" if self.at_most else ">="
        return f"{sign} {self.goal:g}: **{self.verdict}**"


def compare(
    name: str,
    metric: str,
    a: list[float],
    b: list[float],
    goal: float | None = None,
    at_most: bool = True,
) -> Comparison:
    """Ratios a[i] / b[i] per pair, their geometric mean, interval and verdict."""
    if len(a) != len(b) or not a:
        raise ValueError(f"{name}: {len(a)} and {len(b)} values are not pairs")
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    low, high = bootstrap_interval(ratios)
    result = Comparison(name, metric, a, b, ratios, geometric_mean(ratios), low, high, goal)
    result.at_most = at_most
    if goal is not None:
        result.verdict = verdict(low, high, goal, at_most)
    return result


def run_pairs(
    pairs: int, side_a: Callable[[int], dict[str, Any]], side_b: Callable[[int], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run `pairs` interleaved pairs (A B, B A, ...); each side is called with the pair index."""
    runs_a: list[dict[str, Any]] = []
    runs_b: list[dict[str, Any]] = []
    for pair in range(pairs):
        for side in order(pair):
            if side == "a":
                runs_a.append(side_a(pair))
            else:
                runs_b.append(side_b(pair))
    return runs_a, runs_b
