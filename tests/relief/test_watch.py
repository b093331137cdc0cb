"""The pure engines of the watch: the 12-month window, triggers from the library, the cause
classification and the relief by tier."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.policy.library import benefit_library
from carematch.relief.tiers import relief_for
from carematch.relief.watch import (
    Member,
    Settlement,
    classify_cause,
    months_before,
    out_of_pocket_12m,
    triggers,
)

LIBRARY = benefit_library()
AS_OF = date(2026, 6, 30)


def bill(day: date, oop: str, *, person: str = "a", total: str = "1000", visit: str = "outpatient"):
    return Settlement(person, day, "PRV1", visit, Decimal(total), Decimal(oop))


def test_the_window_is_the_twelve_months_up_to_the_day():
    settlements = [
        bill(date(2025, 6, 30), "100"),  # exactly 12 months before: outside (start excluded)
        bill(date(2025, 7, 1), "200"),  # first day inside
        bill(date(2026, 6, 30), "300"),  # the day itself: inside
        bill(date(2026, 7, 1), "400"),  # after the day: outside
    ]

    assert out_of_pocket_12m(settlements, AS_OF) == Decimal("500.00")


def test_a_settlement_exported_twice_counts_once_but_two_people_do_not_merge():
    same = bill(date(2026, 1, 5), "250.50")
    other_person = bill(date(2026, 1, 5), "250.50", person="b")

    assert out_of_pocket_12m([same, same, other_person], AS_OF) == Decimal("501.00")


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 6, 30), 12, date(2025, 6, 30)),
        (date(2024, 2, 29), 12, date(2023, 2, 28)),  # no 29 February in 2023
        (date(2026, 3, 31), 1, date(2026, 2, 28)),
        (date(2026, 1, 15), 13, date(2024, 12, 15)),
    ],
)
def test_months_before(day, months, expected):
    assert months_before(day, months) == expected


@pytest.mark.parametrize(
    ("status", "oop", "income", "expected"),
    [
        ("lifted", "5000.00", "100000", ()),  # the line is "more than 5,000"
        ("lifted", "5000.01", "100000", ("P-ANTI-RETURN",)),
        ("monitored", "8000", "100000", ("P-ANTI-RETURN",)),
        ("marginal", "8000", "20000", ("P-ANTI-RETURN", "P-TEMP-RELIEF")),  # 8,000 ≥ 6,000
        ("general", "8000", "20000", ("P-TEMP-RELIEF",)),
        ("general", "8000", "30000", ()),  # 8,000 < 0.3 × 30,000 = 9,000
        ("general", "8000", "0", ()),  # income unknown: no temporary relief
        ("min_allowance", "8000", "100000", ()),  # not a watched status, income too high
    ],
)
def test_triggers_come_from_the_librarys_rules(status, oop, income, expected):
    assert triggers(LIBRARY, status, Decimal(oop), Decimal(income)) == expected


@pytest.mark.parametrize(
    ("status", "oop", "income", "amount", "tier"),
    [
        # extreme hardship: 100 % of 8,000
        ("extreme_hardship", "8000", "100000", "8000.00", "P-MED-ASSIST-EH"),
        # minimum allowance: 70 % × 8,000 = 5,600
        ("min_allowance", "8000", "100000", "5600.00", "P-MED-ASSIST-MA"),
        # minimum allowance capped: 70 % × 80,000 = 56,000 → 50,000
        ("min_allowance", "80000", "1000000", "50000.00", "P-MED-ASSIST-MA"),
        # lifted: 50 % × 6,000 = 3,000
        ("lifted", "6000", "100000", "3000.00", "P-MED-ASSIST-MON"),
        # monitored capped: 50 % × 70,000 = 35,000 → 30,000
        ("monitored", "70000", "1000000", "30000.00", "P-MED-ASSIST-MON"),
        # marginal with temporary relief: 50 % × 12,000 = 6,000, then the other 6,000 (12,000
        # ≥ 0.3 × 20,000) up to 20,000 → 12,000
        ("marginal", "12000", "20000", "12000.00", "P-MED-ASSIST-MON"),
        # general, temporary relief only, capped: 30,000 ≥ 0.3 × 40,000 → 20,000
        ("general", "30000", "40000", "20000.00", None),
    ],
)
def test_relief_by_tier(status, oop, income, amount, tier):
    relief = relief_for(LIBRARY, status, Decimal(oop), Decimal(income))

    assert relief.amount == Decimal(amount)
    assert relief.tier == tier
    assert relief.out_of_pocket_after == Decimal(oop) - Decimal(amount)


@settings(max_examples=100, deadline=None)
@given(
    status=st.sampled_from(
        ["general", "extreme_hardship", "min_allowance", "lifted", "monitored", "marginal"]
    ),
    oop=st.decimals(min_value=0, max_value=500_000, places=2),
    income=st.decimals(min_value=0, max_value=500_000, places=2),
)
def test_relief_never_exceeds_the_out_of_pocket(status, oop, income):
    relief = relief_for(LIBRARY, status, oop, income)

    assert Decimal(0) <= relief.amount <= oop
    assert relief.out_of_pocket_after >= 0


def test_cause_major_illness_from_a_condition_or_a_big_stay():
    members = [Member("a", 40, 0, frozenset({"cancer"}))]
    assert classify_cause(members, [], AS_OF).cause == "major_illness"

    stay = bill(date(2026, 3, 1), "4000", total="12000", visit="inpatient")
    cause = classify_cause([Member("a", 40)], [stay], AS_OF)
    assert cause.cause == "major_illness"
    assert cause.evidence == ("inpatient:2026-03-01:12000",)


def test_cause_loss_of_working_capacity_needs_working_age_and_severe_disability():
    worker = Member("a", 45, 3, frozenset({"disability"}))
    retired = Member("b", 70, 4, frozenset({"hypertension"}))

    assert classify_cause([worker], [], AS_OF).cause == "loss_of_working_capacity"
    assert classify_cause([retired], [], AS_OF).cause == "chronic_disease"
    # a small in-patient stay is not a major illness
    stay = bill(date(2026, 3, 1), "900", total="9999.99", visit="inpatient")
    assert classify_cause([Member("c", 30, 2)], [stay], AS_OF).cause == "chronic_disease"
