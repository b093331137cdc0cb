"""The sandbox's pure engine: the cost of a benefit per person, worked by hand, and the
comparison's invariants (no database)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.policy.sandbox import PricedPolicy, compare, estimate, to_csv, to_markdown

PRICES = {"elderly_checkup": 150.0, "chronic_followup": 80.0, "medical_assistance": 0.0}


def _policy(benefit, services=("elderly_checkup",), pid="P-X"):
    return PricedPolicy(pid, "测试", benefit, tuple(services))


@pytest.mark.parametrize(
    ("benefit", "services", "per_person", "priced"),
    [
        ({"kind": "free_service"}, ["elderly_checkup"], 150.0, True),
        ({"kind": "free_service", "quantity": 4}, ["chronic_followup"], 320.0, True),
        ({"kind": "reimbursement", "rate": 0.7}, ["elderly_checkup"], 105.0, True),
        (
            {"kind": "subsidy", "rate": 0.5, "quantity": 6, "cap": 200},
            ["chronic_followup"],
            200.0,
            True,
        ),
        ({"kind": "subsidy", "amount": 1000}, ["elderly_checkup"], 1000.0, True),
        ({"kind": "subsidy", "amount": 1000, "cap": 300}, [], 300.0, True),
        ({"kind": "points"}, ["elderly_checkup"], 0.0, True),
        # the first service with a price is the one priced
        ({"kind": "free_service"}, ["medical_assistance", "chronic_followup"], 80.0, True),
        ({"kind": "relief", "rate": 0.7, "cap": 50000}, ["medical_assistance"], 0.0, False),
        ({"kind": "free_service"}, [], 0.0, False),
    ],
)
def test_the_yearly_cost_per_person(benefit, services, per_person, priced):
    got = estimate(_policy(benefit, services), PRICES)
    assert (got.per_person, got.priced) == (per_person, priced)


def test_a_replacement_reports_gained_and_lost_and_the_report_renders():
    draft = _policy({"kind": "free_service"}, pid="P-A")
    current = [
        (_policy({"kind": "free_service"}, pid="P-A"), {"p1", "p2", "p3"}),
        (_policy({"kind": "points"}, pid="P-POINTS"), {"p2", "p9"}),
        (_policy({"kind": "free_service"}, ["chronic_followup"], pid="P-OTHER"), {"p4"}),
    ]
    report = compare(
        draft,
        {"p2", "p3", "p4", "p5"},
        current,
        population=10,
        prices=PRICES,
        price_sources={"elderly_checkup": "registry"},
        region="449901001001",
        as_of="2026-06-30",
    )
    assert (report.replaces, report.gained, report.lost) == ("P-A", 2, 1)
    assert report.current_cost == 450.0
    # Only P-POINTS shares the service (P-A is the one replaced): p2 is covered by it.
    assert [c.id for c in report.comparisons] == ["P-POINTS"]
    assert (report.new, report.already_covered) == (3, 1)
    assert "| gained / lost against it | 2 / 1 |" in to_markdown(report)
    rows = list(csv.reader(io.StringIO(to_csv(report))))
    assert rows[1][:5] == ["P-A", "draft", "449901001001", "4", "3"]
    assert rows[2][:2] == ["P-POINTS", "current"]


persons = st.sets(st.sampled_from([f"p{i}" for i in range(12)]))


@given(
    draft_eligible=persons,
    others=st.lists(
        st.tuples(st.sampled_from(["elderly_checkup", "chronic_followup"]), persons), max_size=4
    ),
)
def test_new_and_covered_split_the_eligible(draft_eligible, others):
    current = [
        (_policy({"kind": "free_service"}, [service], pid=f"P-{i}"), eligible)
        for i, (service, eligible) in enumerate(others)
    ]
    report = compare(
        _policy({"kind": "free_service"}),
        draft_eligible,
        current,
        population=12,
        prices=PRICES,
        price_sources={},
        region="1",
        as_of="2026-01-01",
    )
    covering = set().union(*(e for p, e in current if "elderly_checkup" in p.services))
    assert report.new + report.already_covered == report.eligible == len(draft_eligible)
    assert report.already_covered == len(draft_eligible & covering)
    assert report.cost == pytest.approx(report.per_person * report.eligible)
    assert all(c.also_draft <= min(c.eligible, report.eligible) for c in report.comparisons)
