"""City days as UTC instants: the bounds every period query uses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from carematch.core.clock import CITY_TZ, city_days_utc, city_today


def test_a_city_month_starts_and_ends_at_city_midnight_in_utc() -> None:
    start, end = city_days_utc(date(2026, 1, 1), date(2026, 1, 31))
    assert start == datetime(2025, 12, 31, 16, tzinfo=UTC)
    assert end == datetime(2026, 1, 31, 16, tzinfo=UTC)
    assert start.tzinfo is UTC and end.tzinfo is UTC


def test_the_ends_of_the_calendar_give_the_earliest_and_latest_instants() -> None:
    start, _ = city_days_utc(date.min, date(2000, 1, 1))
    _, end = city_days_utc(date(2000, 1, 1), date.max)
    assert start == datetime.min.replace(tzinfo=UTC)
    assert end == datetime.max.replace(tzinfo=UTC)


@given(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1)),
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=-(10**6), max_value=2 * 10**6),
)
def test_an_instant_is_inside_exactly_when_its_city_day_is(first: date, days: int, offset: int):
    last = first + timedelta(days=days)
    start, end = city_days_utc(first, last)
    instant = datetime.combine(first, datetime.min.time(), CITY_TZ) + timedelta(seconds=offset * 60)
    assert (start <= instant < end) == (first <= city_today(instant) <= last)
