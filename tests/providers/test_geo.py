"""The service map: k nearest against a brute-force haversine scan, vans at stops, hours, speed."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.providers.geo import EARTH_RADIUS_KM, ServiceMap, Site
from carematch.providers.hours import DAY, WeeklyHours, parse_hours, week_second

TB = "tb_screening"
VAX = "vaccination_child"
WEDNESDAY_10 = datetime(2026, 7, 1, 10, 0)  # 2026-07-01 is a Wednesday


def reference_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine written out independently of the engine, in plain math."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, a)))


def brute_force(
    sites: list[Site], service: str, lat: float, lon: float, when: datetime, k: int, open_only: bool
) -> list[tuple[float, str]]:
    """(distance, provider) of the k nearest providers: each at its nearest qualifying site."""
    second = week_second(when)
    best: dict[str, float] = {}
    for s in sites:
        if service not in s.services or (open_only and not s.hours.is_open(second)):
            continue
        d = reference_km(lat, lon, s.lat, s.lon)
        best[s.provider_id] = min(d, best.get(s.provider_id, math.inf))
    return sorted((d, pid) for pid, d in best.items())[:k]


def test_one_degree_of_latitude_is_the_arc_on_the_mean_earth_radius():
    smap = ServiceMap.build([Site("P1", 24.0, 113.0, parse_hours("24/7"), frozenset({TB}))])
    [found] = smap.nearest(TB, 23.0, 113.0, WEDNESDAY_10)
    assert found.distance_km == pytest.approx(EARTH_RADIUS_KM * math.pi / 180, rel=1e-9)


hours_pool = [
    parse_hours("24/7"),
    parse_hours("Mo-Fr 08:00-12:00,14:00-17:30"),
    parse_hours("Mo-Su 09:00-21:00"),
    parse_hours("Sa-Su 08:00-12:00"),
    parse_hours(""),
]
site_strategy = st.builds(
    lambda pid, lat, lon, hours, services: Site(
        f"P{pid}", lat, lon, hours_pool[hours], frozenset(services)
    ),
    pid=st.integers(0, 40),  # repeated ids make multi-site providers, like vans
    lat=st.floats(-80, 80),
    lon=st.floats(-180, 180),
    hours=st.integers(0, len(hours_pool) - 1),
    services=st.sets(st.sampled_from([TB, VAX]), min_size=1),
)


@settings(max_examples=150, deadline=None)
@given(
    sites=st.lists(site_strategy, min_size=1, max_size=60),
    lat=st.floats(-80, 80),
    lon=st.floats(-180, 180),
    k=st.integers(1, 12),
    open_only=st.booleans(),
    hour=st.integers(0, 23),
    day=st.integers(0, 6),
)
def test_k_nearest_equal_the_brute_force_k_nearest(sites, lat, lon, k, open_only, hour, day):
    when = datetime(2026, 7, 6 + day, hour, 30)  # 2026-07-06 is a Monday
    smap = ServiceMap.build(sites)
    found = smap.nearest(TB, lat, lon, when, k, open_only=open_only)
    expected = brute_force(sites, TB, lat, lon, when, k, open_only)
    assert [c.distance_km for c in found] == pytest.approx([d for d, _ in expected], abs=1e-6)
    assert len({c.provider_id for c in found}) == len(found), "each provider once"
    best = dict((pid, d) for d, pid in brute_force(sites, TB, lat, lon, when, 10**6, open_only))
    for c in found:
        assert c.distance_km == pytest.approx(best[c.provider_id], abs=1e-6)
        assert c.distance_km == pytest.approx(reference_km(lat, lon, c.lat, c.lon), abs=1e-6)
        if open_only:
            assert c.open_now


def van_stop(pid: str, weekday: int, start: str, end: str, lat: float, lon: float, name: str):
    """A van's weekly stop as a site open only in its window."""
    base = (weekday - 1) * DAY
    h0, m0 = map(int, start.split(":"))
    h1, m1 = map(int, end.split(":"))
    window = WeeklyHours.of([(base + h0 * 3600 + m0 * 60, base + h1 * 3600 + m1 * 60)])
    return Site(pid, lat, lon, window, frozenset({VAX}), name)


def test_a_van_counts_at_the_stop_where_it_is_now_with_that_stops_location():
    sites = [
        Site("CENTRE", 23.00, 113.00, parse_hours("Mo-Fr 08:00-17:00"), frozenset({VAX})),
        van_stop("VAN", 3, "18:30", "21:00", 23.05, 113.00, "园区大门"),  # Wednesday evening
        van_stop("VAN", 4, "09:00", "12:00", 23.001, 113.00, "农贸市场"),  # Thursday morning
    ]
    smap = ServiceMap.build(sites)
    wednesday_19 = datetime(2026, 7, 1, 19, 0)
    [van] = smap.nearest(VAX, 23.0, 113.0, wednesday_19, 5, open_only=True)
    assert (van.provider_id, van.label, van.lat) == ("VAN", "园区大门", 23.05)
    assert van.open_now and van.closes_at == datetime(
        2026, 7, 1, 21, 0, tzinfo=van.closes_at.tzinfo
    )
    # Without open_only the van is listed once, at its nearest stop, with when it gets there.
    everyone = smap.nearest(VAX, 23.0, 113.0, wednesday_19, 5)
    assert [c.provider_id for c in everyone] == ["CENTRE", "VAN"]
    nearest_van = everyone[1]
    assert nearest_van.label == "农贸市场" and not nearest_van.open_now
    assert nearest_van.next_open is not None
    assert nearest_van.next_open.replace(tzinfo=None) == datetime(2026, 7, 2, 9, 0)
    assert everyone[0].next_open.replace(tzinfo=None) == datetime(2026, 7, 2, 8, 0)


def test_closed_days_give_the_next_opening_and_open_only_drops_them():
    sites = [
        Site("WEEKDAYS", 23.0, 113.0, parse_hours("Mo-Fr 08:00-17:00"), frozenset({TB})),
        Site("NIGHTS", 23.1, 113.0, parse_hours("Mo-Su 18:00-24:00"), frozenset({TB})),
        Site("NEVER", 23.0, 113.001, parse_hours(""), frozenset({TB})),
    ]
    smap = ServiceMap.build(sites)
    saturday_23 = datetime(2026, 7, 4, 23, 0)
    listed = {c.provider_id: c for c in smap.nearest(TB, 23.0, 113.0, saturday_23, 5)}
    assert listed["WEEKDAYS"].next_open.replace(tzinfo=None) == datetime(2026, 7, 6, 8, 0)
    assert listed["NIGHTS"].open_now
    assert listed["NIGHTS"].closes_at.replace(tzinfo=None) == datetime(2026, 7, 5, 0, 0)
    assert listed["NEVER"].next_open is None and not listed["NEVER"].open_now
    assert [
        c.provider_id for c in smap.nearest(TB, 23.0, 113.0, saturday_23, 5, open_only=True)
    ] == ["NIGHTS"]


def test_max_km_and_unknown_services_and_ties():
    sites = [
        # Two clinics in the same building: exactly the same distance.
        Site("B", 23.0, 113.01, parse_hours("24/7"), frozenset({TB})),
        Site("A", 23.0, 113.01, parse_hours("24/7"), frozenset({TB})),
        Site("FAR", 24.0, 113.0, parse_hours("24/7"), frozenset({TB})),
    ]
    smap = ServiceMap.build(sites)
    assert [c.provider_id for c in smap.nearest(TB, 23.0, 113.0, WEDNESDAY_10, 3)] == [
        "A",
        "B",
        "FAR",
    ], "equal distances are ordered by provider id"
    assert [c.provider_id for c in smap.nearest(TB, 23.0, 113.0, WEDNESDAY_10, 3, max_km=5)] == [
        "A",
        "B",
    ]
    assert smap.nearest("no_such_service", 23.0, 113.0, WEDNESDAY_10) == []


def test_site_hours_of_a_van_stopping_twice_at_one_place_are_the_union():
    monday = WeeklyHours.of([(1 * 3600, 3 * 3600)])
    thursday = WeeklyHours.of([(3 * 86_400 + 3600, 3 * 86_400 + 2 * 3600)])
    smap = ServiceMap.build(
        [
            Site("VAN1", 23.1, 113.3, monday, frozenset({"s"})),
            Site("VAN1", 23.1, 113.3, thursday, frozenset({"s"})),
        ]
    )
    hours = smap.site_hours("s", "VAN1", 23.1, 113.3)
    assert hours is not None
    assert hours.intervals == monday.intervals + thursday.intervals
    assert smap.site_hours("s", "VAN1", 23.2, 113.3) is None
    assert smap.site_hours("other", "VAN1", 23.1, 113.3) is None
