"""Calendar arithmetic for the synthetic city, vectorised over numpy ``datetime64[D]`` arrays.

Every generated date is measured from one fixed reference date, ``AS_OF``, so the same seed
gives the same city whenever it is run (no ``today()`` anywhere).
"""

from __future__ import annotations

import datetime as dt
import re

import numpy as np

AS_OF = dt.date(2026, 6, 30)
"""The reference date of every generated city (all ages, windows and overdue checks use it)."""

AS_OF_D = np.datetime64(AS_OF.isoformat(), "D")

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?$")


def parse_duration(text: str) -> tuple[int, int, int]:
    """Parse a schedule duration such as ``"1y6m"`` or ``"28d"`` into (years, months, days).

    Raises:
        ValueError: if the text is not a duration in the schedule file's notation.
    """
    match = _DURATION.match(str(text).strip())
    if not match or not any(match.groups()):
        raise ValueError(f"not a duration: {text!r}")
    years, months, days = (int(g) if g else 0 for g in match.groups())
    return years, months, days


def components(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``datetime64[D]`` values into integer year, month (1-12) and day (1-31) arrays."""
    dates = np.asarray(dates, dtype="datetime64[D]")
    months = dates.astype("datetime64[M]")
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def _add_months(dates: np.ndarray, months: int | np.ndarray) -> np.ndarray:
    """Add whole months; a day the target month lacks rolls to the 1st of the next month."""
    year, month, day = components(dates)
    total = year * 12 + (month - 1) + months
    start = (total - 1970 * 12).astype("datetime64[M]")
    first = start.astype("datetime64[D]")
    following = (start + 1).astype("datetime64[D]")
    month_len = (following - first).astype(np.int64)
    return np.where(day > month_len, following, first + (np.minimum(day, month_len) - 1))


def add_duration(
    dates: np.ndarray,
    years: int | np.ndarray = 0,
    months: int | np.ndarray = 0,
    days: int | np.ndarray = 0,
) -> np.ndarray:
    """Add a duration the way the immunization schedule defines it.

    Years, then months, then days, each step on its own; a step that lands on a day the month
    lacks (31 Jan + 1m, 29 Feb + 1y) rolls to the first day of the following month, as the
    schedule's header prescribes, so the generator and any forecaster agree on every due date.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    if np.any(years):
        dates = _add_months(dates, np.asarray(years) * 12)
    if np.any(months):
        dates = _add_months(dates, months)
    return dates + np.asarray(days, dtype=np.int64)


def age_in_years(birth: np.ndarray, on: np.datetime64 = AS_OF_D) -> np.ndarray:
    """Whole years between ``birth`` and ``on`` (the age a clerk would write down)."""
    by, bm, bd = components(birth)
    oy, om, od = components(np.asarray([on], dtype="datetime64[D]"))
    before_birthday = (om[0] < bm) | ((om[0] == bm) & (od[0] < bd))
    return (oy[0] - by - before_birthday).astype(np.int64)


def to_days(dates: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 as int64 (handy for random offsets and comparisons)."""
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def from_days(days: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_days`."""
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]")


def not_before(rng: np.random.Generator, dates: np.ndarray, earliest: np.ndarray) -> np.ndarray:
    """Move dates that fall before ``earliest`` to a random day between it and AS_OF.

    Keeps events from predating a baby's birth or a migrant's arrival in the city, while
    leaving every other date (and so the seasonal pattern) as drawn.
    """
    dates = np.asarray(dates, dtype="datetime64[D]")
    earliest = np.asarray(earliest, dtype="datetime64[D]")
    span = np.maximum((AS_OF_D - earliest).astype(np.int64), 0) + 1
    redraw = earliest + np.floor(rng.random(dates.size) * span).astype(np.int64)
    return np.where(dates < earliest, redraw, dates)
