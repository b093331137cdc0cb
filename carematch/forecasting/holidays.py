"""Chinese holiday calendar by week: the Spring Festival (春节) and its travel season (春运).

The Spring Festival follows the lunar calendar, so it falls on a different week every year
(between 21 January and 20 February): a yearly profile indexed by ISO week cannot place it, and
seasonal naive puts last year's holiday dip in the wrong weeks. The features here align weeks to
the festival instead.

Official holiday days come from ``chinese_calendar`` (the State Council's notices) for the years
it covers; outside them the usual pattern (New Year's Eve 除夕 to the seventh day 初七) stands in.
The festival dates themselves (正月初一) come from the table below, which is the Chinese
calendar's own (checked against ``chinese_calendar`` for every year it covers, see
tests/forecasting/test_holidays.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import chinese_calendar
import numpy as np

# 正月初一 (the first day of the first lunar month), 2000-2050.
SPRING_FESTIVAL: dict[int, date] = {
    year: date.fromisoformat(day)
    for year, day in (
        (2000, "2000-02-05"), (2001, "2001-01-24"), (2002, "2002-02-12"), (2003, "2003-02-01"),
        (2004, "2004-01-22"), (2005, "2005-02-09"), (2006, "2006-01-29"), (2007, "2007-02-18"),
        (2008, "2008-02-07"), (2009, "2009-01-26"), (2010, "2010-02-14"), (2011, "2011-02-03"),
        (2012, "2012-01-23"), (2013, "2013-02-10"), (2014, "2014-01-31"), (2015, "2015-02-19"),
        (2016, "2016-02-08"), (2017, "2017-01-28"), (2018, "2018-02-16"), (2019, "2019-02-05"),
        (2020, "2020-01-25"), (2021, "2021-02-12"), (2022, "2022-02-01"), (2023, "2023-01-22"),
        (2024, "2024-02-10"), (2025, "2025-01-29"), (2026, "2026-02-17"), (2027, "2027-02-06"),
        (2028, "2028-01-26"), (2029, "2029-02-13"), (2030, "2030-02-03"), (2031, "2031-01-23"),
        (2032, "2032-02-11"), (2033, "2033-01-31"), (2034, "2034-02-19"), (2035, "2035-02-08"),
        (2036, "2036-01-28"), (2037, "2037-02-15"), (2038, "2038-02-04"), (2039, "2039-01-24"),
        (2040, "2040-02-12"), (2041, "2041-02-01"), (2042, "2042-01-22"), (2043, "2043-02-10"),
        (2044, "2044-01-30"), (2045, "2045-02-17"), (2046, "2046-02-06"), (2047, "2047-01-26"),
        (2048, "2048-02-14"), (2049, "2049-02-02"), (2050, "2050-01-23"),
    )
}  # fmt: skip
FIRST_YEAR, LAST_YEAR = min(SPRING_FESTIVAL), max(SPRING_FESTIVAL)

# The travel season (春运) runs 40 days: from 15 days before the festival to 24 days after it
# (2024: 26 January to 5 March).
CHUNYUN_BEFORE, CHUNYUN_AFTER = 15, 24
# Weeks either side of the festival week that get their own indicator: the pre-festival rush,
# the holiday week itself and the return.
OFFSET_WEEKS = tuple(range(-3, 4))

FEATURES = (
    "sf_holiday_days",
    "chunyun_days",
    "other_holiday_days",
    *(f"sf_week_{'m' if k < 0 else 'p'}{abs(k)}" for k in OFFSET_WEEKS),
)


class HolidayCalendarError(ValueError):
    """A week outside the years whose Spring Festival is known."""


def spring_festival(year: int) -> date:
    """The Spring Festival (正月初一) of a Gregorian year."""
    try:
        return SPRING_FESTIVAL[year]
    except KeyError:
        raise HolidayCalendarError(
            f"the Spring Festival date is known for {FIRST_YEAR}-{LAST_YEAR} only, not {year}"
        ) from None


def monday_of(day: date) -> date:
    """The Monday of the ISO week holding ``day``."""
    return day - timedelta(days=day.weekday())


@cache
def _official_days(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(Spring Festival holiday days, other public-holiday days) of a year.

    Official notices where ``chinese_calendar`` has them; otherwise the festival's usual eight
    days (除夕 to 初七) and the fixed-date holidays (New Year, Labour Day 1-5 May, National Day
    1-7 October).
    """
    start, end = date(year, 1, 1), date(year, 12, 31)
    try:
        days = chinese_calendar.get_holidays(start, end, include_weekends=False)
    except NotImplementedError:
        days = None
    if days is not None:
        spring, other = set(), set()
        for day in days:
            _, name = chinese_calendar.get_holiday_detail(day)
            if name == chinese_calendar.Holiday.spring_festival.value:
                spring.add(day)
            elif name is not None:
                other.add(day)
        # The notices count only working days off; the weekend days inside the break are
        # holiday days too.
        if spring:
            first, last = min(spring), max(spring)
            spring = {first + timedelta(days=i) for i in range((last - first).days + 1)}
        return frozenset(spring), frozenset(other)
    festival = spring_festival(year)
    spring = {festival + timedelta(days=i) for i in range(-1, 7)}
    other = {date(year, 1, 1)}
    other |= {date(year, 5, d) for d in range(1, 6)}
    other |= {date(year, 10, d) for d in range(1, 8)}
    return frozenset(spring), frozenset(other)


@dataclass(frozen=True)
class WeekHolidays:
    """The holiday features of one week (Monday to Sunday)."""

    week: date
    sf_holiday_days: int
    chunyun_days: int
    other_holiday_days: int
    sf_offset: int  # weeks from the festival's week (0: the week holding 正月初一)

    def as_row(self) -> list[float]:
        """The values in the order of :data:`FEATURES`."""
        flags = [1.0 if self.sf_offset == k else 0.0 for k in OFFSET_WEEKS]
        return [
            float(self.sf_holiday_days),
            float(self.chunyun_days),
            float(self.other_holiday_days),
            *flags,
        ]


@cache
def week_holidays(week: date) -> WeekHolidays:
    """The holiday features of the week starting on Monday ``week``."""
    days = [week + timedelta(days=i) for i in range(7)]
    spring_days = other_days = chunyun = 0
    for day in days:
        spring, other = _official_days(day.year)
        spring_days += day in spring
        other_days += day in other
    # The nearest festival: this year's, or next year's for weeks late in the year.
    year = week.year
    candidates = [spring_festival(y) for y in (year - 1, year, year + 1) if y in SPRING_FESTIVAL]
    if not candidates:
        spring_festival(year)  # raises the clear error
    nearest = min(candidates, key=lambda f: abs((monday_of(f) - week).days))
    offset = (week - monday_of(nearest)).days // 7
    for day in days:
        gap = (day - nearest).days
        chunyun += -CHUNYUN_BEFORE <= gap <= CHUNYUN_AFTER
    return WeekHolidays(week, spring_days, chunyun, other_days, offset)


def holiday_matrix(weeks: list[date]) -> np.ndarray:
    """One row of :data:`FEATURES` per week."""
    if not weeks:
        return np.zeros((0, len(FEATURES)))
    return np.array([week_holidays(w).as_row() for w in weeks], dtype=float)
