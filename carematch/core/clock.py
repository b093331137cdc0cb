"""One source of "now", so tests can pin time."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)


def today() -> date:
    """Current date in UTC."""
    return utcnow().date()
