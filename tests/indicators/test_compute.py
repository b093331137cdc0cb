"""The engine against hand-written SQL on a generated city's inputs (no database)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pyarrow as pa
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from carematch.indicators.compute import Period, compute
from carematch.indicators.definitions import default_definitions, status
from carematch.indicators.synthetic import CITY, city
from tests.indicators.hand import HAND_INDICATORS, expected

PERIOD = Period.month("2026-06")


@pytest.fixture(scope="module")
def generated() -> tuple[pa.Table, dict[str, pa.Table]]:
    return city(6_000, PERIOD, seed=11)


@pytest.fixture(scope="module")
def computed(generated) -> list[dict]:
    people, inputs = generated
    return compute(default_definitions(), people, inputs, PERIOD, CITY).to_pylist()


def test_every_dataset_indicator_is_computed_by_hand_too():
    shipped = {i.id for i in default_definitions().values() if i.dataset}
    assert shipped == set(HAND_INDICATORS)


def test_every_indicator_equals_the_hand_sql_at_every_region_and_breakdown(generated, computed):
    people, inputs = generated
    hand = expected(people, inputs, PERIOD, CITY, PERIOD.last_day)
    engine = {
        (r["indicator_id"], r["region_code"], r["disaggregation"], r["group_key"]): (
            r["numerator"],
            r["denominator"],
        )
        for r in computed
    }
    assert set(engine) == set(hand)
    for key, (n, d) in hand.items():
        assert engine[key][0] == pytest.approx(n, rel=1e-9), key
        assert engine[key][1] == (pytest.approx(d) if d is not None else None), key
    # Each indicator is checked in total and broken down, at every level.
    seen = defaultdict(set)
    for indicator, region, dis, _ in hand:
        seen[indicator].add((len(region), dis))
    for indicator in HAND_INDICATORS:
        wanted = {(6, "total"), (12, "total")}
        if indicator != "complaints_received":
            wanted |= {(6, "hukou"), (9, "age_group")}
        assert wanted <= seen[indicator], indicator


def test_values_and_statuses_follow_from_the_counts(computed):
    library = default_definitions()
    for row in computed:
        indicator = library[row["indicator_id"]]
        n, d = row["numerator"], row["denominator"]
        if indicator.kind == "count":
            assert row["value"] == n
        elif not d:
            assert row["value"] is None
        elif indicator.kind == "change":
            assert row["value"] == pytest.approx(n / d - 1)
        else:
            assert row["value"] == pytest.approx(n / d)
        if indicator.kind == "rate":
            assert 0 <= row["value"] <= 1 if row["value"] is not None else True
        assert row["status"] == status(
            row["value"], indicator.target, indicator.direction, indicator.amber_band
        )


def test_the_districts_add_up_to_the_city_but_for_units_without_a_place(generated, computed):
    people, _ = generated
    totals = {
        (r["indicator_id"], r["region_code"]): r["denominator"]
        for r in computed
        if r["disaggregation"] == "total" and r["indicator_id"] == "chronic_control_rate"
    }
    districts = sum(v for (_, code), v in totals.items() if len(code) == 6 and code != CITY)
    placeless = people.filter(pa.compute.is_null(people.column("community")))
    chronic = sum(
        1
        for c in placeless.column("conditions").to_pylist()
        if {"hypertension", "diabetes"} & set(c)
    )
    assert totals[("chronic_control_rate", CITY)] == districts + chronic


def test_a_rerun_gives_the_same_table(generated, computed):
    people, inputs = generated
    again = compute(default_definitions(), people, inputs, PERIOD, CITY).to_pylist()
    assert again == computed


@given(
    value=st.floats(-10, 10, allow_nan=False),
    target=st.floats(-10, 10, allow_nan=False),
    band=st.floats(0, 5, allow_nan=False),
    direction=st.sampled_from([">=", "<="]),
)
@settings(max_examples=200, deadline=None)
def test_the_light_is_green_exactly_when_the_target_is_met(value, target, band, direction):
    gap = abs(value - target)
    assume(gap > 1e-6 and abs(gap - band) > 1e-6)  # away from the float-rounded edges
    light = status(value, target, direction, band)
    met = value >= target if direction == ">=" else value <= target
    assert (light == "green") == met
    if not met:
        assert light == ("amber" if gap <= band else "red")


def test_periods_are_months_and_refuse_anything_else():
    assert Period.month("2026-02").end == date(2026, 3, 1)
    assert Period.month("2024-12").year_before() == Period.month("2023-12")
    for bad in ("2026-13", "2026-1", "26-01", "x", "2026-00", "1800-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            Period.month(bad)
