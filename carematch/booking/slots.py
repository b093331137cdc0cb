"""Slot generation (号源生成): a provider's opening hours and daily capacity → bookable slots.

A pure engine (no database): it takes each provider's terms for a service and the weekly hours
of each site where it gives it, and returns the slots of a run of days.

The rules:

- A day's open time at a site is cut into consecutive slots of the catalogue's
  ``slot_minutes``, starting at each opening; a remainder shorter than a slot is not offered.
  Slots never cross midnight (a range past midnight is two days' ranges).
- The offer's ``daily_capacity`` is that provider's capacity for the service on one day, however
  many sites it serves at that day (a van shares it among the day's stops). It is spread over
  the day's slots as evenly as whole places allow: slot *i* of *n* gets
  ``round((i+1)·C/n) − round(i·C/n)`` places (halves rounded up), so the day sums to exactly
  *C*, no two slots differ by more than one place, and when *C* < *n* the single places are
  spaced out over the day rather than bunched at one end. Slots that get no place are not
  offered.
- A service with ``slot_minutes`` 0 (emergency care, medication delivery) is not booked.

Days are city days (UTC+8, :data:`carematch.providers.hours.CITY_TZ`); slot times are aware.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from carematch.providers.hours import CITY_TZ, DAY, WeeklyHours


@dataclass(frozen=True)
class SiteHours:
    """Where a service is given and when: a fixed provider's address, or one van stop."""

    hours: WeeklyHours
    site: str | None = None


@dataclass(frozen=True)
class Schedule:
    """One provider's offer of one service, with the sites and hours it gives it at."""

    provider_id: str
    service: str
    slot_minutes: int
    daily_capacity: int
    sites: tuple[SiteHours, ...]
    region_code: str | None = None


@dataclass(frozen=True)
class PlannedSlot:
    """A slot to offer: provider, service, site, start and end (city time), places."""

    provider_id: str
    service: str
    site: str | None
    start: datetime
    end: datetime
    capacity: int
    region_code: str | None = None


def day_windows(hours: WeeklyHours, day: date) -> list[tuple[int, int]]:
    """The open ranges of ``hours`` on ``day`` as seconds since that day's midnight.

    Examples:
        >>> from carematch.providers.hours import parse_hours
        >>> day_windows(parse_hours("Mo 08:00-12:00,14:00-17:00"), date(2026, 11, 23))
        [(28800, 43200), (50400, 61200)]
    """
    base = day.weekday() * DAY
    windows = []
    for start, end in hours.intervals:
        lo, hi = max(start, base), min(end, base + DAY)
        if lo < hi:
            windows.append((lo - base, hi - base))
    return windows


def cut(windows: Iterable[tuple[int, int]], slot_seconds: int) -> list[tuple[int, int]]:
    """Consecutive whole slots of ``slot_seconds`` from the start of each window.

    Examples:
        >>> cut([(0, 3600), (7200, 8000)], 1800)
        [(0, 1800), (1800, 3600)]
    """
    if slot_seconds <= 0:
        return []
    slots = []
    for start, end in windows:
        at = start
        while at + slot_seconds <= end:
            slots.append((at, at + slot_seconds))
            at += slot_seconds
    return slots


def spread(capacity: int, slots: int) -> list[int]:
    """Split ``capacity`` places over ``slots`` slots, evenly, the remainder spaced out.

    Examples:
        >>> spread(10, 4)
        [3, 2, 3, 2]
        >>> spread(2, 5)
        [0, 1, 0, 1, 0]
    """
    if slots <= 0:
        return []
    capacity = max(capacity, 0)

    def placed_before(i: int) -> int:
        # round(i·C/n), halves up, in integers: floor((2·i·C + n) / 2n).
        return (2 * i * capacity + slots) // (2 * slots)

    return [placed_before(i + 1) - placed_before(i) for i in range(slots)]


def plan_slots(schedules: Iterable[Schedule], first_day: date, days: int) -> list[PlannedSlot]:
    """Every slot of ``days`` city days from ``first_day`` for each schedule.

    Args:
        schedules: providers' offers with the weekly hours of each site.
        first_day: the first city day to plan.
        days: how many days (0 plans nothing).

    Returns:
        Slots ordered by provider, service, start and site; each has at least one place.
    """
    planned: list[PlannedSlot] = []
    for schedule in schedules:
        if schedule.slot_minutes <= 0 or schedule.daily_capacity <= 0:
            continue
        length = schedule.slot_minutes * 60
        for offset in range(days):
            day = first_day + timedelta(days=offset)
            midnight = datetime.combine(day, time.min, tzinfo=CITY_TZ)
            pieces: list[tuple[int, int, str | None]] = []
            for site in schedule.sites:
                pieces += [(s, e, site.site) for s, e in cut(day_windows(site.hours, day), length)]
            # One site may list the same time twice (two stop rows); offer it once.
            unique = sorted(set(pieces), key=lambda p: (p[0], p[2] or ""))
            for (start, end, site_name), places in zip(
                unique, spread(schedule.daily_capacity, len(unique)), strict=True
            ):
                if places:
                    planned.append(
                        PlannedSlot(
                            provider_id=schedule.provider_id,
                            service=schedule.service,
                            site=site_name,
                            start=midnight + timedelta(seconds=start),
                            end=midnight + timedelta(seconds=end),
                            capacity=places,
                            region_code=schedule.region_code,
                        )
                    )
    return planned


def group_by_day(slots: Iterable[PlannedSlot]) -> dict[tuple[str, str, date], list[PlannedSlot]]:
    """Planned slots by (provider, service, city day): each group's places sum to the offer."""
    groups: dict[tuple[str, str, date], list[PlannedSlot]] = defaultdict(list)
    for slot in slots:
        groups[(slot.provider_id, slot.service, slot.start.date())].append(slot)
    return dict(groups)
