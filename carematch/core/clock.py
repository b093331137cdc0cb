"""One source of "now", so tests can pin time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

# The city keeps China Standard Time all year (no daylight saving), so a fixed offset is exact
# and needs no time-zone database. Dates people live by (a dose given, a visit, "today") are
# city days; instants are stored in UTC.
CITY_TZ = timezone(timedelta(hours=8), "CST")


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Current date in UTC."""
    return utcnow().date()


def city_today(now: datetime | None = None) -> date:
    """Today in the city (UTC+8), or the city's day of ``now``: from 16:00 UTC on, a day ahead
    of UTC's today."""
    return (now or utcnow()).astimezone(CITY_TZ).date()


def city_days_utc(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants bounding the city days ``start`` … ``end`` (both included).

    In UTC because instants are stored in UTC and SQLite compares the wall-clock digits it is
    given: a bound in the city's zone would shift the period by eight hours there. Days at the
    ends of the calendar give the earliest or latest instant instead of overflowing.
    """
    upper = _UTC_MAX if end >= date.max else _city_midnight_utc(end + timedelta(days=1))
    return _city_midnight_utc(start), upper


_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_UTC_MAX = datetime.max.replace(tzinfo=UTC)


def _city_midnight_utc(day: date) -> datetime:
    try:
        return datetime.combine(day, time(), CITY_TZ).astimezone(UTC)
    except OverflowError:  # the city's 0001-01-01 begins in UTC's year 0
        return _UTC_MIN
