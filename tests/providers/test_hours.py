"""Opening hours: the OSM subset, open-at-T, next opening and closing, edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.providers.hours import (
    DAY,
    WEEK,
    HoursSyntaxError,
    WeeklyHours,
    parse_hours,
    week_second,
)


def at(day: int, hh: int, mm: int = 0) -> int:
    """Second of the week: day 0 = Monday."""
    return day * DAY + hh * 3600 + mm * 60


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def test_office_hours_with_lunch_break_and_closed_weekend():
    hours = parse_hours("Mo-Fr 08:00-12:00,14:00-17:30")
    assert hours.is_open(at(MON, 8))
    assert not hours.is_open(at(MON, 12)), "a range is half-open: closed at its end"
    assert not hours.is_open(at(MON, 13))
    assert hours.is_open(at(FRI, 17, 29))
    assert not hours.is_open(at(SAT, 10)) and not hours.is_open(at(SUN, 10))
    # Saturday 10:00 → Monday 08:00 is two days less two hours.
    assert hours.seconds_until_open(at(SAT, 10)) == 2 * DAY - 2 * 3600
    assert hours.seconds_until_open(at(MON, 12, 30)) == 90 * 60
    assert hours.seconds_until_close(at(MON, 11)) == 3600


def test_a_later_rule_replaces_earlier_rules_for_its_days():
    hours = parse_hours("Mo-Fr 08:00-17:00; We off; Sa 09:00-12:00")
    assert hours.is_open(at(TUE, 9)) and not hours.is_open(at(WED, 9))
    assert hours.is_open(at(SAT, 9)) and not hours.is_open(at(SUN, 9))
    assert hours.seconds_until_open(at(TUE, 18)) == at(THU, 8) - at(TUE, 18)


def test_a_range_ending_at_midnight_is_open_until_then_and_closed_after():
    hours = parse_hours("Mo-Fr 18:00-24:00")
    assert hours.is_open(at(MON, 23, 59))
    assert not hours.is_open(at(TUE, 0)), "24:00 ends the day"
    assert hours.seconds_until_close(at(MON, 23)) == 3600
    assert hours.day_ranges()[0] == (1, "18:00", "24:00")
    # Friday night → next opening Monday 18:00.
    assert hours.seconds_until_open(at(SAT, 0)) == at(MON, 18) + WEEK - at(SAT, 0)


def test_a_range_past_midnight_spills_into_the_next_day():
    hours = parse_hours("Fr 22:00-02:00")
    assert hours.is_open(at(FRI, 23)) and hours.is_open(at(SAT, 1))
    assert not hours.is_open(at(SAT, 2))
    assert hours.day_ranges() == [(5, "22:00", "24:00"), (6, "00:00", "02:00")]
    assert hours.seconds_until_close(at(FRI, 23)) == 3 * 3600


def test_sunday_night_wraps_into_monday_and_closing_follows_the_wrap():
    hours = parse_hours("Su 20:00-03:00")
    assert hours.is_open(at(MON, 2))
    assert hours.seconds_until_close(at(SUN, 23)) == 4 * 3600
    assert hours.seconds_until_open(at(MON, 4)) == at(SUN, 20) - at(MON, 4)


def test_always_and_never():
    always, never = parse_hours("24/7"), parse_hours("")
    assert always.always and always.is_open(at(SUN, 3))
    assert always.seconds_until_close(at(SUN, 3)) is None, "24/7 never closes"
    assert never.never and not never.is_open(at(MON, 10))
    assert never.seconds_until_open(at(MON, 10)) is None


def test_day_lists_and_wrapping_day_ranges():
    assert parse_hours("Mo,We,Fr 09:00-10:00").is_open(at(WED, 9, 30))
    assert not parse_hours("Mo,We,Fr 09:00-10:00").is_open(at(TUE, 9, 30))
    weekend = parse_hours("Sa-Mo 10:00-11:00")
    assert [weekend.is_open(at(d, 10, 30)) for d in range(7)] == [1, 0, 0, 0, 0, 1, 1]
    assert parse_hours("09:00-10:00").is_open(at(SUN, 9)), "times alone apply every day"


@pytest.mark.parametrize(
    "text",
    [
        "Mo-Fr 25:00-26:00",
        "Mo-Fr 08:60-12:00",
        "Xx 08:00-12:00",
        "Mo 12:00-12:00",
        "Mo-Fr",
        "Mo-Fr 08:00-12:00;;Sa 08:00-12:00",
        "Mo-Fr 8:00-12:00",
        "Mo-Fr 08:00-12:00 extra",
        "Mo 24:00-02:00",
        "PH off",
    ],
)
def test_bad_syntax_is_refused_with_a_message(text):
    with pytest.raises(HoursSyntaxError) as raised:
        parse_hours(text)
    assert str(raised.value)


def test_week_second_reads_naive_as_city_time_and_converts_aware_times():
    monday_9_city = datetime(2026, 7, 6, 9, 0)  # 2026-07-06 is a Monday
    assert week_second(monday_9_city) == at(MON, 9)
    utc = datetime(2026, 7, 6, 1, 0, tzinfo=UTC)  # 09:00 in UTC+8
    assert week_second(utc) == at(MON, 9)
    sunday_utc = datetime(2026, 7, 5, 20, 0, tzinfo=timezone(timedelta(hours=0)))
    assert week_second(sunday_utc) == at(MON, 4), "Sunday 20:00 UTC is Monday 04:00 in the city"


# Spans on a 30-minute grid, up to two days long, anywhere in the week.
spans = st.lists(
    st.tuples(st.integers(0, 7 * 48 - 1), st.integers(1, 96)).map(
        lambda s: (s[0] * 1800, s[0] * 1800 + s[1] * 1800)
    ),
    max_size=6,
)


def brute_open(raw: list[tuple[int, int]], second: int) -> bool:
    """Open at ``second`` by the definition: inside some span, modulo the week."""
    return any(start <= second + k * WEEK < end for start, end in raw for k in (0, 1))


@settings(max_examples=60, deadline=None)
@given(raw=spans, probe=st.integers(0, 7 * 48 - 1))
def test_open_and_next_opening_agree_with_a_brute_force_scan(raw, probe):
    hours = WeeklyHours.of(raw)
    second = probe * 1800
    assert hours.is_open(second) == brute_open(raw, second)
    wait = hours.seconds_until_open(second)
    grid = [(second + step * 1800) % WEEK for step in range(7 * 48)]
    opens = [s for s in grid if brute_open(raw, s)]
    if not opens:
        assert wait is None
    else:
        first = next(i for i, s in enumerate(grid) if brute_open(raw, s))
        assert wait == first * 1800


@settings(max_examples=60, deadline=None)
@given(raw=spans)
def test_stored_day_ranges_rebuild_the_same_week(raw):
    hours = WeeklyHours.of(raw)
    assert WeeklyHours.from_day_ranges(hours.day_ranges()) == hours
