"""The hand-worked cases through the engine: each case's expected entries and invalid doses."""

from __future__ import annotations

from datetime import date

import pytest

from carematch.vaccination.forecast import GivenDose, count_overdue, forecast
from carematch.vaccination.schedule import default_schedule
from carematch.vaccination.schemas import entry_json
from tests.vaccination.cases import load_cases

SCHEDULE = default_schedule()
CASES = load_cases()


def test_there_are_at_least_forty_distinct_hand_worked_cases():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)
    assert all(c["why"].strip() and (c["expect"] or c["expect_invalid"]) for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_case(case):
    # Given a child's birth, the assessment date and the recorded doses
    dob, as_of = date.fromisoformat(case["dob"]), date.fromisoformat(case["as_of"])
    history = [GivenDose(h["series"], date.fromisoformat(h["date"])) for h in case["history"]]

    # When the engine forecasts
    result = forecast(SCHEDULE, dob, as_of, history)

    # Then every series the case is about reads as worked out by hand
    by_series = {e.series: entry_json(e) for e in result.entries}
    for series, expected in case["expect"].items():
        assert by_series[series] == {"series": series, **expected}, case["why"]
    invalid = [
        {"series": d.series, "date": d.date.isoformat(), "reason": d.reason} for d in result.invalid
    ]
    assert invalid == case["expect_invalid"], case["why"]
    if "expect_overdue" in case:
        assert result.doses_overdue == case["expect_overdue"]
    # and the fast count agrees with the full forecast
    assert count_overdue(SCHEDULE, dob, as_of, history) == result.doses_overdue
