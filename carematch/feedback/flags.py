"""The low-rating flag (资质复核): a provider rated poorly for K periods in a row is flagged.

Pure: no database, no web. R-EV-3 has poor providers lose their service qualification after
repeated failures; this engine only finds them, with the evidence, so an official can review
the qualification.

A period is ``period_months`` calendar months aligned to January (1: months, 3: quarters),
named by its first month (``2030-04``). A period is **low** when it has at least
``min_ratings`` ratings and their mean is below ``threshold``. A provider is flagged when
``periods`` consecutive periods are low. Anything else breaks the run: a good period, and also
a period with too few ratings or none — too little evidence is not evidence of failure, and a
qualification review is a serious step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

PERIOD = re.compile(r"^(\d{4})-(\d{2})$")
RATING_RANGE = (1, 5)


@dataclass(frozen=True)
class LowRatingRule:
    """When a provider is flagged: ``periods`` consecutive periods of at least ``min_ratings``
    ratings with a mean below ``threshold``; a period is ``period_months`` months."""

    threshold: float = 3.0
    min_ratings: int = 5
    periods: int = 3
    period_months: int = 1

    def __post_init__(self) -> None:
        low, high = RATING_RANGE
        if not low < self.threshold <= high:
            raise ValueError(f"threshold must be in ({low}, {high}], got {self.threshold}")
        if self.min_ratings < 1:
            raise ValueError(f"min_ratings must be at least 1, got {self.min_ratings}")
        if self.periods < 1:
            raise ValueError(f"periods must be at least 1, got {self.periods}")
        if self.period_months not in (1, 2, 3, 4, 6, 12):
            raise ValueError("period_months must divide a year: 1, 2, 3, 4, 6 or 12")


@dataclass(frozen=True)
class PeriodMean:
    """A provider's ratings in one period: their mean and how many there were."""

    provider_id: str
    period: str
    mean: float
    count: int


@dataclass(frozen=True)
class LowRatingRun:
    """Consecutive low periods of one provider, oldest first: the evidence of a flag."""

    provider_id: str
    periods: tuple[PeriodMean, ...]

    @property
    def first_period(self) -> str:
        return self.periods[0].period

    @property
    def last_period(self) -> str:
        return self.periods[-1].period


def month_index(period: str) -> int:
    """Months since year 0 of a ``YYYY-MM`` label (consecutive months differ by 1).

    Raises:
        ValueError: not a ``YYYY-MM`` label of a real month.
    """
    found = PERIOD.match(period)
    if not found or not 1 <= int(found.group(2)) <= 12:
        raise ValueError(f"period {period!r} is not YYYY-MM")
    return int(found.group(1)) * 12 + int(found.group(2)) - 1


def period_of(day: date, months: int) -> str:
    """The label of the period holding ``day``: its first month.

    Examples:
        >>> period_of(date(2030, 5, 17), 3)
        '2030-04'
        >>> period_of(date(2030, 5, 17), 1)
        '2030-05'
    """
    first = (day.month - 1) // months * months + 1
    return f"{day.year:04d}-{first:02d}"


def period_end(period: str, months: int) -> date:
    """The first day after the period (its exclusive end).

    Examples:
        >>> period_end("2030-11", 3)
        datetime.date(2031, 2, 1)
    """
    index = month_index(period) + months
    return date(index // 12, index % 12 + 1, 1)


def period_means(ratings: Iterable[tuple[str, date, int]], months: int) -> list[PeriodMean]:
    """Mean and count per provider and period from single ``(provider, day, rating)`` rows.

    For small inputs and tests; the service takes means computed by the database.

    Raises:
        ValueError: a rating outside 1–5.
    """
    low, high = RATING_RANGE
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for provider_id, day, rating in ratings:
        if isinstance(rating, bool) or not low <= rating <= high:
            raise ValueError(f"rating {rating!r} of {provider_id} is not {low}–{high}")
        acc = sums[(provider_id, period_of(day, months))]
        acc[0] += rating
        acc[1] += 1
    return [
        PeriodMean(provider_id, period, total / count, count)
        for (provider_id, period), (total, count) in sorted(sums.items())
    ]


def means_from_month_totals(
    totals: Iterable[tuple[str, str, int, int]], months: int
) -> list[PeriodMean]:
    """Period means from ``(provider, "YYYY-MM", sum of scores, count)`` month totals.

    The database sums a provider's ratings per month (one GROUP BY); this folds the months into
    periods of ``months`` months, so the mean of a quarter weighs every rating once rather than
    averaging three monthly means.

    Raises:
        ValueError: a malformed month, a count below 1 or a sum outside the 1–5 range.

    Examples:
        >>> means_from_month_totals([("P1", "2030-01", 6, 3), ("P1", "2030-02", 2, 1)], 3)
        [PeriodMean(provider_id='P1', period='2030-01', mean=2.0, count=4)]
    """
    low, high = RATING_RANGE
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for provider_id, month, total, count in totals:
        index = month_index(month)
        if count < 1 or not low * count <= total <= high * count:
            raise ValueError(f"{provider_id} {month}: {total} over {count} ratings is impossible")
        first = index // months * months
        acc = sums[(provider_id, f"{first // 12:04d}-{first % 12 + 1:02d}")]
        acc[0] += total
        acc[1] += count
    return [
        PeriodMean(provider_id, period, total / count, count)
        for (provider_id, period), (total, count) in sorted(sums.items())
    ]


def is_low(mean: PeriodMean, rule: LowRatingRule) -> bool:
    """True when the period counts against the provider."""
    return mean.count >= rule.min_ratings and mean.mean < rule.threshold


def low_rating_runs(means: Iterable[PeriodMean], rule: LowRatingRule) -> list[LowRatingRun]:
    """Every maximal run of at least ``rule.periods`` consecutive low periods, per provider.

    The whole run is returned (a provider low for five months with ``periods=3`` has one run of
    five), so a flag keeps all its evidence and rerunning on more data extends it rather than
    adding another. Order of the input does not matter; the output is by provider, then period.

    Raises:
        ValueError: a malformed or misaligned period label, or one provider given the same
            period twice.

    Examples:
        >>> rule = LowRatingRule(threshold=3.0, min_ratings=2, periods=2)
        >>> rows = [PeriodMean("P1", "2030-01", 2.0, 4), PeriodMean("P1", "2030-02", 2.5, 3)]
        >>> [(r.provider_id, r.first_period, r.last_period) for r in low_rating_runs(rows, rule)]
        [('P1', '2030-01', '2030-02')]
    """
    by_provider: dict[str, dict[int, PeriodMean]] = defaultdict(dict)
    for mean in means:
        index = month_index(mean.period)
        if index % rule.period_months:
            raise ValueError(
                f"period {mean.period} does not start a {rule.period_months}-month period"
            )
        seen = by_provider[mean.provider_id]
        if index in seen:
            raise ValueError(f"provider {mean.provider_id} has period {mean.period} twice")
        seen[index] = mean
    runs: list[LowRatingRun] = []
    for provider_id in sorted(by_provider):
        periods = by_provider[provider_id]
        current: list[PeriodMean] = []
        previous: int | None = None
        for index in sorted(periods):
            mean = periods[index]
            consecutive = previous is not None and index - previous == rule.period_months
            if not is_low(mean, rule):
                _close(current, rule, provider_id, runs)
                current = []
            elif consecutive and current:
                current.append(mean)
            else:
                _close(current, rule, provider_id, runs)
                current = [mean]
            previous = index
        _close(current, rule, provider_id, runs)
    return runs


def _close(
    current: Sequence[PeriodMean], rule: LowRatingRule, provider_id: str, runs: list[LowRatingRun]
) -> None:
    if len(current) >= rule.periods:
        runs.append(LowRatingRun(provider_id, tuple(current)))
