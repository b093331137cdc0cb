"""Complaint deadlines: working days, holidays and make-up days, hours, the packaged table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.feedback.deadlines import (
    Calendar,
    Category,
    CategoryTableError,
    category_table,
    due_at,
    parse_table,
)
from carematch.providers.hours import CITY_TZ

FIVE = Category("service_quality", "服务质量", "Quality", working_days=5)
URGENT = Category("medical_safety", "医疗安全", "Safety", hours=24, urgent=True)


def city(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CITY_TZ)


def test_five_working_days_from_a_friday_end_with_the_next_friday():
    received = city(2026, 3, 6)  # Friday

    due = due_at(received, FIVE, Calendar(), CITY_TZ)

    assert due == datetime(2026, 3, 14, 0, 0, tzinfo=CITY_TZ)  # end of Friday 13 March


def test_a_complaint_received_on_saturday_counts_from_monday():
    saturday = city(2026, 3, 7, hour=23)
    monday = city(2026, 3, 9, hour=0)

    due_from_saturday = due_at(saturday, FIVE, Calendar(), CITY_TZ)
    due_from_sunday = due_at(city(2026, 3, 8), FIVE, Calendar(), CITY_TZ)

    # Monday is day 1 for a weekend receipt, day 0 for a Monday receipt.
    assert due_from_saturday == due_from_sunday == datetime(2026, 3, 14, tzinfo=CITY_TZ)
    assert due_at(monday, FIVE, Calendar(), CITY_TZ) == datetime(2026, 3, 17, tzinfo=CITY_TZ)


def test_the_receipt_day_is_the_city_day_not_the_utc_day():
    # 23:30 UTC on Thursday is 07:30 on Friday in the city.
    received = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)

    due = due_at(received, FIVE, Calendar(), CITY_TZ)

    assert due == datetime(2026, 3, 14, tzinfo=CITY_TZ)


def test_holidays_are_skipped_and_make_up_days_count():
    # A holiday week 2–6 March; Saturday 7 March worked in exchange.
    holidays = frozenset(date(2026, 3, d) for d in range(2, 7))
    calendar = Calendar(holidays=holidays, extra_workdays=frozenset({date(2026, 3, 7)}))

    due = due_at(city(2026, 2, 27), FIVE, calendar, CITY_TZ)  # Friday before the holiday

    # Working days after it: Sat 7 (make-up), Mon 9, Tue 10, Wed 11, Thu 12.
    assert due == datetime(2026, 3, 13, tzinfo=CITY_TZ)


def test_urgent_complaints_count_hours_through_the_weekend():
    received = city(2026, 3, 6, hour=18)  # Friday evening

    assert due_at(received, URGENT, Calendar(), CITY_TZ) == city(2026, 3, 7, hour=18)


def test_a_naive_receipt_time_is_refused():
    with pytest.raises(ValueError):
        due_at(datetime(2026, 3, 6, 10), FIVE, Calendar(), CITY_TZ)


@given(
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
    days=st.integers(min_value=1, max_value=30),
    holidays=st.frozensets(
        st.dates(min_value=date(2020, 1, 1), max_value=date(2036, 3, 31)), max_size=40
    ),
)
def test_the_due_day_is_the_nth_working_day_after_receipt(day, days, holidays):
    calendar = Calendar(holidays=holidays)

    last = calendar.add_working_days(day, days)

    between = [day + timedelta(n) for n in range(1, (last - day).days + 1)]
    assert calendar.is_working_day(last)
    assert sum(calendar.is_working_day(d) for d in between) == days


def test_the_packaged_table_gives_every_category_a_deadline():
    table = category_table()

    assert {"medical_safety", "service_quality", "other"} <= set(table.codes)
    assert table.get("medical_safety").urgent
    assert table.get("medical_safety").hours == 24
    assert table.get("service_attitude").working_days == 5
    for category in table.categories.values():
        assert (category.working_days is None) != (category.hours is None)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "categories"),
        ({"categories": []}, "no categories"),
        ({"categories": [{"code": "a", "deadline": {}}]}, "working_days or hours"),
        (
            {"categories": [{"code": "a", "deadline": {"working_days": 2, "hours": 3}}]},
            "working_days or hours",
        ),
        ({"categories": [{"code": "a", "deadline": {"working_days": 0}}]}, "1.."),
        ({"categories": [{"code": "a", "deadline": {"days": 3}}]}, "working_days or hours"),
        (
            {"categories": [{"code": "a", "deadline": {"hours": 3}}] * 2},
            "twice",
        ),
        (
            {
                "categories": [{"code": "a", "deadline": {"hours": 3}}],
                "calendar": {"holidays": ["2026-02-30"]},
            },
            "not a date",
        ),
        ({"categories": [{"code": "a b", "deadline": {"hours": 3}}]}, "identifier"),
    ],
)
def test_a_malformed_table_is_refused_with_its_reason(document, message):
    with pytest.raises(CategoryTableError, match=message):
        parse_table(document)
