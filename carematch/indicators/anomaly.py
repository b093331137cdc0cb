"""Abnormal drops in an indicator series (异常下降预警, R-PL-5). Pure: plain values in and out.

The method, for the latest point of a series (one region and breakdown of one indicator):

1. the baseline is the median of the previous points (up to :data:`WINDOW`; at least
   :data:`MIN_HISTORY`), robust to an earlier dip or spike;
2. the spread is the larger of the robust spread of those points (1.4826 × their median
   absolute deviation, which estimates a standard deviation) and, for a rate, the binomial
   standard error the latest denominator allows (sqrt(b(1-b)/n)): a community of 40 diabetics
   moves by several points a month by chance alone, and a short calm history must not make
   that look abnormal;
3. the score is how many spreads the latest value sits on the bad side of the baseline (below
   for an indicator that should be high, above for one that should be low); a warning needs a
   score of at least :data:`THRESHOLD` and a change of at least :data:`MIN_CHANGE` of the
   baseline (a drop from 99.9 % to 99.5 % is real but not worth a supervisor's time);
4. a month after a drop, the two latest months are also judged together against the months
   before them (their mean, with the spread of a mean of two): a drop a little too small to
   stand out in one month is caught in the next.

Seeded simulations (tests/indicators/test_anomaly.py and bench/bench_indicators.py) check that
an injected drop such as 85 % → 70 % is caught in the period it happens or the next in at least
95 % of series, with at most 5 % of clean series ever warned.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WINDOW = 12
MIN_HISTORY = 3
THRESHOLD = 4.0
MIN_CHANGE = 0.05
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Point:
    """One period of a series: the value and, for a rate, its denominator."""

    value: float
    denominator: float | None = None


@dataclass(frozen=True)
class Drop:
    """A detected abnormal change at the latest point."""

    value: float
    baseline: float
    spread: float
    score: float

    @property
    def change(self) -> float:
        """The latest value minus the baseline (negative for a drop)."""
        return self.value - self.baseline


def detect(
    history: Sequence[Point],
    latest: Point,
    *,
    higher_is_better: bool = True,
    is_rate: bool = True,
    is_count: bool = False,
    threshold: float = THRESHOLD,
    min_change: float = MIN_CHANGE,
) -> Drop | None:
    """The abnormal change at ``latest`` after ``history`` (oldest first), or None.

    Args:
        history: earlier points, oldest first; only the last :data:`WINDOW` are used.
        latest: the point to judge.
        higher_is_better: the direction of the indicator (a drop of a ``>=`` indicator, a rise
            of a ``<=`` one, is the bad change).
        is_rate: whether values are shares with denominators (binomial floor on the spread).
        is_count: whether values are counts of events (Poisson floor: sqrt of the baseline).
        threshold: the score needed.
        min_change: the smallest change worth a warning, as a share of the baseline (or an
            absolute amount when the baseline is 0).

    Examples:
        >>> calm = [Point(v, 200) for v in (0.85, 0.84, 0.86, 0.85, 0.85, 0.84)]
        >>> detect(calm, Point(0.70, 200)) is not None
        True
        >>> detect(calm, Point(0.83, 200)) is None
        True
    """
    if latest.value is None or not math.isfinite(latest.value):
        return None
    options: dict[str, Any] = {
        "higher_is_better": higher_is_better,
        "is_rate": is_rate,
        "is_count": is_count,
        "min_change": min_change,
    }
    single = _judge(history, [latest], threshold=threshold, **options)
    if single is not None or not history:
        return single
    # The month after a drop: the two latest months together against the months before them,
    # so a drop a little too small to stand out in one month is still caught a month later.
    return _judge(history[:-1], [history[-1], latest], threshold=threshold, **options)


def _judge(
    history: Sequence[Point],
    recent: Sequence[Point],
    *,
    higher_is_better: bool,
    is_rate: bool,
    is_count: bool,
    threshold: float,
    min_change: float,
) -> Drop | None:
    window = [p for p in history[-WINDOW:] if p.value is not None and math.isfinite(p.value)]
    if len(window) < MIN_HISTORY or any(
        p.value is None or not math.isfinite(p.value) for p in recent
    ):
        return None
    values = [p.value for p in window]
    baseline = statistics.median(values)
    value = sum(p.value for p in recent) / len(recent)
    spread = (
        MAD_TO_SD * statistics.median(abs(v - baseline) for v in values) / math.sqrt(len(recent))
    )
    counted = sum(p.denominator or 0 for p in recent)
    if is_rate and all(p.denominator for p in recent):
        b = min(max(baseline, 0.0), 1.0)
        # Half a case either way keeps the floor above 0 when the baseline is 0 % or 100 %.
        b = min(max(b, 0.5 / counted), 1 - 0.5 / counted)
        spread = max(spread, math.sqrt(b * (1 - b) / counted))
    if is_count:
        # A count of a few events a month moves by its square root by chance.
        spread = max(spread, math.sqrt(max(baseline, 1.0) / len(recent)))
    if spread <= 0:
        spread = max(abs(baseline) * 0.01, 1e-9)
    bad = (baseline - value) if higher_is_better else (value - baseline)
    score = bad / spread
    enough = bad >= (min_change * abs(baseline) if baseline else min_change)
    if score >= threshold and enough:
        return Drop(recent[-1].value, baseline, spread, score)
    return None


def scan(series: Sequence[Point], **options: Any) -> list[int]:
    """Every index of ``series`` where :func:`detect` warns (judging each point on its past)."""
    return [i for i in range(1, len(series)) if detect(series[:i], series[i], **options)]


@dataclass(frozen=True)
class Simulation:
    """How a detector did on simulated series."""

    series: int
    detected: int
    false_warned: int

    @property
    def detection_rate(self) -> float:
        return self.detected / self.series

    @property
    def false_warning_rate(self) -> float:
        return self.false_warned / self.series


def simulate(
    series: int,
    seed: int,
    *,
    periods: int = 24,
    rate: tuple[float, float] = (0.6, 0.9),
    drop: float = 0.15,
    denominators: tuple[int, int] = (150, 600),
) -> Simulation:
    """Simulate monthly management rates, half with an injected drop, and count the warnings.

    Each series has a true rate drawn from ``rate`` and a denominator from ``denominators``
    (patients of a community or street), with binomial noise each month and a slow drift of up
    to ±1 point a month. A drop series loses ``drop`` (absolute, e.g. 0.85 → 0.70) from a
    random month on (a doctor left) and counts as detected when a warning comes in that month
    or the next. A clean series counts as falsely warned when any month warns.

    Returns:
        ``series`` clean and ``series`` drop series' results (detected of the drop series,
        false_warned of the clean ones; ``series`` is the count of each).
    """
    rng = np.random.default_rng(seed)
    detected = false_warned = 0
    for with_drop in (False, True):
        for _ in range(series):
            true = rng.uniform(*rate)
            n = int(rng.integers(denominators[0], denominators[1] + 1))
            drift = rng.normal(0, 0.003, periods).cumsum()
            at = int(rng.integers(MIN_HISTORY + 3, periods))
            points = []
            for t in range(periods):
                p = true + drift[t] - (drop if with_drop and t >= at else 0.0)
                p = min(max(p, 0.0), 1.0)
                k = int(rng.binomial(n, p))
                points.append(Point(k / n, n))
            warned = scan(points)
            if with_drop:
                detected += any(at <= i <= at + 1 for i in warned)
            else:
                false_warned += bool(warned)
    return Simulation(series, detected, false_warned)
