"""Opening hours (营业时间): parse the OpenStreetMap subset the registry uses, answer "open at T?".

A pure engine (no database). A week is ``[0, WEEK)`` seconds from Monday 00:00 city time; a
provider's hours are a sorted tuple of disjoint half-open intervals in it, so "open at T" is one
bisection and "next opening" is the next interval start, wrapping past Sunday midnight.

The syntax (a subset of https://wiki.openstreetmap.org/wiki/Key:opening_hours):

- ``24/7`` — always open; an empty string — no regular hours (never open);
- rules separated by ``;``: ``DAYS TIMES`` or ``DAYS off`` or ``TIMES`` (every day);
- ``DAYS``: ``Mo``, ``Mo-Fr``, ``Mo,We,Fr``, ``Sa-Mo`` (wraps past Sunday);
- ``TIMES``: ``08:00-12:00,14:00-17:30``; ``24:00`` ends a range at midnight; a range whose
  end is earlier than its start runs past midnight into the next day (``22:00-02:00``).

As in OSM, a later rule replaces what earlier rules said about the same days.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from datetime import datetime

from carematch.core.clock import CITY_TZ

DAY = 86_400
WEEK = 7 * DAY
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
# The city's time zone (CITY_TZ) lives with the clock in carematch.core.clock; it is imported
# above, so code that reads opening hours may keep importing it from here.

_TIME = re.compile(r"^(\d{2}):(\d{2})$")
_SPAN = re.compile(r"^(\d{2}:\d{2})-(\d{2}:\d{2})$")


class HoursSyntaxError(ValueError):
    """An opening-hours string the parser cannot read; the message says where and why."""


@dataclass(frozen=True)
class WeeklyHours:
    """When a place is open, as disjoint sorted ``(start, end)`` seconds of the week."""

    intervals: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, spans: list[tuple[int, int]]) -> WeeklyHours:
        """Normalise raw spans (may overlap, touch or run past Sunday midnight) into a week."""
        pieces: list[tuple[int, int]] = []
        for start, end in spans:
            if end <= start:
                continue
            if end - start >= WEEK:
                return cls(((0, WEEK),))
            start, end = start % WEEK, start % WEEK + (end - start)
            if end > WEEK:
                pieces += [(start, WEEK), (0, end - WEEK)]
            else:
                pieces.append((start, end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(pieces):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return cls(tuple(merged))

    @property
    def always(self) -> bool:
        """Open around the clock (24/7)."""
        return self.intervals == ((0, WEEK),)

    @property
    def never(self) -> bool:
        """No regular opening at all."""
        return not self.intervals

    def is_open(self, second: int) -> bool:
        """Open at ``second`` of the week."""
        i = bisect.bisect_right(self.intervals, (second, WEEK)) - 1
        return i >= 0 and self.intervals[i][0] <= second < self.intervals[i][1]

    def seconds_until_open(self, second: int) -> int | None:
        """Seconds from ``second`` to the next opening (0 when open now; None when never)."""
        if not self.intervals:
            return None
        if self.is_open(second):
            return 0
        i = bisect.bisect_right(self.intervals, (second, WEEK))
        if i < len(self.intervals):
            return self.intervals[i][0] - second
        return self.intervals[0][0] + WEEK - second

    def seconds_until_close(self, second: int) -> int | None:
        """Seconds from ``second`` until closing, when open now; None if closed or 24/7.

        A span that ends at Sunday midnight continues into a span starting Monday 00:00.
        """
        if self.always or not self.is_open(second):
            return None
        i = bisect.bisect_right(self.intervals, (second, WEEK)) - 1
        end = self.intervals[i][1]
        if end == WEEK and self.intervals[0][0] == 0:
            end = WEEK + self.intervals[0][1]
        return end - second

    def day_ranges(self) -> list[tuple[int, str, str]]:
        """The hours as ``(weekday 1-7, "HH:MM", "HH:MM")`` rows split at midnight (for storage)."""
        rows = []
        for start, end in self.intervals:
            day = start // DAY
            while start < end:
                stop = min(end, (day + 1) * DAY)
                rows.append((day + 1, clock(start - day * DAY), clock(stop - day * DAY)))
                start, day = stop, day + 1
        return rows

    @classmethod
    def from_day_ranges(cls, rows: list[tuple[int, str, str]]) -> WeeklyHours:
        """Rebuild the week from stored ``(weekday, opens, closes)`` rows."""
        spans = []
        for weekday, opens, closes in rows:
            base = (weekday - 1) * DAY
            spans.append((base + parse_clock(opens), base + parse_clock(closes)))
        return cls.of(spans)


def clock(seconds: int) -> str:
    """Seconds since midnight as ``HH:MM`` (86400 → ``24:00``)."""
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_clock(text: str) -> int:
    """``HH:MM`` (00:00 … 24:00) as seconds since midnight.

    Raises:
        HoursSyntaxError: not a time of day.
    """
    match = _TIME.match(text.strip())
    if not match:
        raise HoursSyntaxError(f"{text!r} is not a time HH:MM")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise HoursSyntaxError(f"{text!r} is not a time of day (00:00 … 24:00)")
    return hours * 3600 + minutes * 60


def _days(text: str) -> list[int]:
    days: list[int] = []
    for part in text.split(","):
        ends = part.split("-")
        if len(ends) > 2 or any(e not in WEEKDAYS for e in ends):
            raise HoursSyntaxError(f"{part!r} is not a day or day range (Mo … Su, Mo-Fr)")
        first, last = WEEKDAYS.index(ends[0]), WEEKDAYS.index(ends[-1])
        days += [(first + i) % 7 for i in range((last - first) % 7 + 1)]
    return days


def _spans(text: str) -> list[tuple[int, int]]:
    spans = []
    for part in text.split(","):
        match = _SPAN.match(part)
        if not match:
            raise HoursSyntaxError(f"{part!r} is not a time range HH:MM-HH:MM")
        start, end = parse_clock(match[1]), parse_clock(match[2])
        if start == DAY:
            raise HoursSyntaxError(f"{part!r} starts at 24:00")
        if end == start:
            raise HoursSyntaxError(f"{part!r} is empty")
        # An end before the start runs past midnight (OSM "22:00-02:00").
        spans.append((start, end if end > start else end + DAY))
    return spans


def parse_hours(text: str) -> WeeklyHours:
    """Parse an opening-hours string into the week's open intervals.

    Args:
        text: e.g. ``"Mo-Fr 08:00-12:00,14:00-17:30; Sa 08:00-12:00"``, ``"24/7"`` or ``""``.

    Returns:
        The normalised weekly hours.

    Raises:
        HoursSyntaxError: the string is outside the supported syntax; the message names the part.

    Examples:
        >>> parse_hours("Mo 22:00-24:00").day_ranges()
        [(1, '22:00', '24:00')]
    """
    text = " ".join(text.split())
    if not text:
        return WeeklyHours(())
    if text == "24/7":
        return WeeklyHours(((0, WEEK),))
    per_day: dict[int, list[tuple[int, int]]] = {}
    for rule in (r.strip() for r in text.split(";")):
        if not rule:
            raise HoursSyntaxError(f"empty rule in {text!r}")
        fields = rule.split(" ")
        if len(fields) == 1 and fields[0][:1].isdigit():
            days, times = list(range(7)), fields[0]
        elif len(fields) == 2:
            days, times = _days(fields[0]), fields[1]
        else:
            raise HoursSyntaxError(f"rule {rule!r} is not 'DAYS HH:MM-HH:MM[,…]' or 'DAYS off'")
        spans = [] if times == "off" else _spans(times)
        for day in days:
            per_day[day] = spans
    return WeeklyHours.of(
        [(day * DAY + s, day * DAY + e) for day, spans in per_day.items() for s, e in spans]
    )


def week_second(at: datetime) -> int:
    """Seconds since Monday 00:00 of ``at`` in city time (a naive ``at`` is city time)."""
    local = to_city_time(at)
    return local.weekday() * DAY + local.hour * 3600 + local.minute * 60 + local.second


def to_city_time(at: datetime) -> datetime:
    """``at`` as an aware datetime in city time; a naive datetime is taken as city time."""
    return at.replace(tzinfo=CITY_TZ) if at.tzinfo is None else at.astimezone(CITY_TZ)
