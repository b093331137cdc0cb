"""Consultation indicators: counts and median turnaround per period. Pure: plain values in.

The cockpit reads these for R-SV-5 (远程会诊): how many requests each period brought, how they
ended, and how long the answered ones waited (requested → answered), as a median because a few
requests answered the next morning would drag a mean far from the typical wait.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class PeriodStats:
    """One period's consultations: counts by status, answered ones, median turnaround."""

    period: str
    requested: int
    by_status: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    median_turnaround_minutes: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "period": self.period,
            "requested": self.requested,
            "by_status": dict(self.by_status),
            "answered": self.answered,
            "median_turnaround_minutes": self.median_turnaround_minutes,
        }


def month_of(day: date) -> str:
    """``2026-11`` for a day in November 2026."""
    return f"{day:%Y-%m}"


def week_of(day: date) -> str:
    """The ISO week: ``2026-W47``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


PERIODS: dict[str, Callable[[date], str]] = {"month": month_of, "week": week_of, "day": str}


def per_period(
    rows: Iterable[tuple[date, str, timedelta | None]], period: str = "month"
) -> list[PeriodStats]:
    """Group consultations by the period they were requested in.

    Args:
        rows: ``(day requested, status, turnaround or None)``; a turnaround is given for every
            consultation that was answered (also if closed since).
        period: ``month``, ``week`` or ``day``.

    Returns:
        One :class:`PeriodStats` per period that has a request, oldest first.

    Raises:
        KeyError: an unknown period.

    Examples:
        >>> rows = [(date(2026, 11, 2), "answered", timedelta(minutes=20)),
        ...         (date(2026, 11, 3), "closed", timedelta(minutes=40)),
        ...         (date(2026, 11, 5), "declined", None)]
        >>> s = per_period(rows)[0]
        >>> s.period, s.requested, s.answered, s.median_turnaround_minutes
        ('2026-11', 3, 2, 30.0)
    """
    key_of = PERIODS[period]
    counts: dict[str, dict[str, int]] = {}
    waits: dict[str, list[float]] = {}
    for day, status, turnaround in rows:
        key = key_of(day)
        by_status = counts.setdefault(key, {})
        by_status[status] = by_status.get(status, 0) + 1
        if turnaround is not None:
            waits.setdefault(key, []).append(turnaround.total_seconds() / 60)
    return [
        PeriodStats(
            period=key,
            requested=sum(counts[key].values()),
            by_status=dict(sorted(counts[key].items())),
            answered=len(waits.get(key, [])),
            median_turnaround_minutes=(
                round(statistics.median(waits[key]), 1) if waits.get(key) else None
            ),
        )
        for key in sorted(counts)
    ]


def turnaround(requested_at: datetime, answered_at: datetime | None) -> timedelta | None:
    """Requested → answered, or None while unanswered."""
    return None if answered_at is None else answered_at - requested_at
