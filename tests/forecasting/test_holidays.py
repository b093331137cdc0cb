"""The holiday calendar by week: the Spring Festival moves, the week flags follow it."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import chinese_calendar
import pytest

from carematch.forecasting.holidays import (
    FEATURES,
    SPRING_FESTIVAL,
    HolidayCalendarError,
    holiday_matrix,
    spring_festival,
    week_holidays,
)


def test_spring_festival_2027_is_6_february_and_its_weeks_carry_the_flags():
    # Given the Spring Festival of 2027 (正月初一, a Saturday)
    festival = spring_festival(2027)
    assert festival == date(2027, 2, 6)

    # When the weeks around it are described
    before = week_holidays(date(2027, 1, 25))
    festival_week = week_holidays(date(2027, 2, 1))
    after = week_holidays(date(2027, 2, 8))
    later = week_holidays(date(2027, 3, 1))

    # Then the week holding 6 February is offset 0, its neighbours -1 and +1
    assert (before.sf_offset, festival_week.sf_offset, after.sf_offset) == (-1, 0, 1)
    # and the holiday (除夕 5 Feb to 初七 12 Feb) splits 3 + 5 over the two weeks
    assert (festival_week.sf_holiday_days, after.sf_holiday_days) == (3, 5)
    assert before.sf_holiday_days == 0
    # and the travel season (15 days before to 24 after) covers those weeks entirely
    assert before.chunyun_days == festival_week.chunyun_days == after.chunyun_days == 7
    assert later.chunyun_days == 2  # 1 and 2 March are the season's last days
    assert week_holidays(date(2027, 1, 11)).chunyun_days == 0
    # and the matrix flags exactly the one offset column per week
    row = dict(zip(FEATURES, holiday_matrix([date(2027, 2, 1)])[0], strict=True))
    assert row["sf_week_p0"] == 1.0
    assert sum(v for k, v in row.items() if k.startswith("sf_week_")) == 1.0


def test_the_festival_moves_so_the_same_iso_week_is_not_the_festival_week_every_year():
    weeks = {y: spring_festival(y).isocalendar().week for y in range(2024, 2029)}
    assert len(set(weeks.values())) >= 4  # 2024…2028 fall in four or five different ISO weeks


@pytest.mark.parametrize("year", range(2004, 2027))
def test_the_date_table_agrees_with_the_official_holidays(year):
    # Given the State Council's holiday notice for the year (chinese_calendar)
    festival = spring_festival(year)
    official = [
        d
        for d in chinese_calendar.get_holidays(date(year, 1, 1), date(year, 3, 31))
        if chinese_calendar.get_holiday_detail(d)[1]
        == chinese_calendar.Holiday.spring_festival.value
    ]
    # Then 正月初一 is inside the official break, which starts at most two days before it
    assert festival in official
    assert 0 <= (festival - min(official)).days <= 2
    # and the week features count those days
    monday = festival - timedelta(days=festival.weekday())
    assert week_holidays(monday).sf_holiday_days >= 1


def test_lunar_years_have_lunar_lengths():
    # 12 lunar months are 354 or 355 days; a year with a leap month 383 to 385.
    years = sorted(SPRING_FESTIVAL)
    for a, b in itertools.pairwise(years):
        length = (SPRING_FESTIVAL[b] - SPRING_FESTIVAL[a]).days
        assert length in (353, 354, 355, 383, 384, 385), (a, length)
        assert date(a, 1, 21) <= SPRING_FESTIVAL[a] <= date(a, 2, 20)


def test_a_year_beyond_the_table_is_a_clear_error():
    with pytest.raises(HolidayCalendarError, match="2051"):
        spring_festival(2051)
