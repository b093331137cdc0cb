"""One source of "now", so tests can pin time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

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
