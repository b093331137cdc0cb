"""Slot generation, pure: hours cut into slots, daily capacity spread over them, vans' stops."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from carematch.booking.slots import (
    Schedule,
    SiteHours,
    cut,
    day_windows,
    group_by_day,
    plan_slots,
    spread,
)
from carematch.providers.hours import CITY_TZ, parse_hours

MONDAY = date(2030, 3, 4)


def at(day: date, hhmm: str) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=CITY_TZ)


def schedule(hours: str, *, minutes: int = 30, capacity: int = 8, sites=None) -> Schedule:
    return Schedule(
        provider_id="P1",
        service="vaccination_adult",
        slot_minutes=minutes,
        daily_capacity=capacity,
        sites=sites or (SiteHours(parse_hours(hours)),),
        region_code="449901001001",
    )


@given(capacity=st.integers(0, 5000), slots=st.integers(1, 200))
def test_spread_gives_the_whole_capacity_as_evenly_as_whole_places_allow(capacity, slots):
    places = spread(capacity, slots)
    assert len(places) == slots
    assert sum(places) == capacity
    assert max(places) - min(places) <= 1
    assert min(places) >= 0


def test_spread_spaces_a_small_capacity_over_the_day():
    # Two places over nine slots: neither bunched at the start nor at the end.
    places = spread(2, 9)
    assert sum(places) == 2
    first, second = [i for i, p in enumerate(places) if p]
    assert first > 0 and second < 8 and second - first >= 3


def test_cut_drops_the_remainder_shorter_than_a_slot():
    assert cut([(0, 3600 + 600)], 1800) == [(0, 1800), (1800, 3600)]
    assert cut([(0, 3600)], 0) == []


def test_a_weekday_clinic_gets_slots_on_open_days_only_with_its_daily_capacity():
    week = schedule("Mo-Fr 08:00-12:00,14:00-16:00", minutes=30, capacity=10)
    planned = plan_slots([week], MONDAY, 7)
    days = Counter(s.start.date() for s in planned)
    # Saturday and Sunday are closed; 12 half-hour slots a day share 10 places, so two get none.
    assert set(days) == {MONDAY + timedelta(days=i) for i in range(5)}
    assert all(count == 10 for count in days.values())
    for group in group_by_day(planned).values():
        assert sum(s.capacity for s in group) == 10
    monday = sorted(s.start for s in planned if s.start.date() == MONDAY)
    assert monday[0] >= at(MONDAY, "08:00") and monday[-1] < at(MONDAY, "16:00")
    # Nothing in the lunch break.
    assert not [t for t in monday if at(MONDAY, "12:00") <= t < at(MONDAY, "14:00")]
    assert all(s.end - s.start == timedelta(minutes=30) for s in planned)
    assert all(s.region_code == "449901001001" for s in planned)


def test_a_large_capacity_is_spread_over_every_slot():
    planned = plan_slots([schedule("Mo 08:00-10:00", minutes=30, capacity=10)], MONDAY, 1)
    assert [s.capacity for s in planned] == spread(10, 4)
    assert [s.start for s in planned] == [
        at(MONDAY, t) for t in ("08:00", "08:30", "09:00", "09:30")
    ]


def test_hours_past_midnight_make_slots_on_both_days_none_crossing_midnight():
    planned = plan_slots([schedule("Mo 23:00-01:00", minutes=30, capacity=40)], MONDAY, 2)
    starts = [s.start for s in planned]
    tuesday = MONDAY + timedelta(days=1)
    assert starts == [
        at(MONDAY, "23:00"),
        at(MONDAY, "23:30"),
        at(tuesday, "00:00"),
        at(tuesday, "00:30"),
    ]
    assert all(s.start.date() == (s.end - timedelta(seconds=1)).date() for s in planned)


def test_a_van_shares_its_daily_capacity_among_the_days_stops():
    stops = (
        SiteHours(parse_hours("Mo 09:00-10:00"), "农贸市场"),
        SiteHours(parse_hours("Mo 14:00-15:00"), "工业园区"),
        SiteHours(parse_hours("We 09:00-11:00"), "村委会"),
    )
    planned = plan_slots([schedule("", minutes=20, capacity=6, sites=stops)], MONDAY, 7)
    by_day = {day: group for (_, _, day), group in group_by_day(planned).items()}
    assert set(by_day) == {MONDAY, MONDAY + timedelta(days=2)}
    monday = by_day[MONDAY]
    assert sum(s.capacity for s in monday) == 6
    assert Counter(s.site for s in monday) == {"农贸市场": 3, "工业园区": 3}
    assert {s.site for s in by_day[MONDAY + timedelta(days=2)]} == {"村委会"}


def test_unbookable_services_and_closed_providers_make_no_slots():
    assert plan_slots([schedule("24/7", minutes=0)], MONDAY, 3) == []
    assert plan_slots([schedule("", minutes=15)], MONDAY, 3) == []
    assert plan_slots([schedule("Mo-Su 08:00-09:00", capacity=0)], MONDAY, 3) == []


def test_round_the_clock_service_has_slots_through_the_whole_day():
    planned = plan_slots([schedule("24/7", minutes=60, capacity=24)], MONDAY, 1)
    assert [s.capacity for s in planned] == [1] * 24
    assert planned[0].start == at(MONDAY, "00:00") and planned[-1].end == at(
        MONDAY, "00:00"
    ) + timedelta(days=1)


def test_day_windows_read_the_weekday_of_the_day():
    hours = parse_hours("Tu 10:00-11:00")
    assert day_windows(hours, MONDAY) == []
    assert day_windows(hours, MONDAY + timedelta(days=1)) == [(36000, 39600)]
