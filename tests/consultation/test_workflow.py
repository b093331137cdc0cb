"""The consultation state machine and the indicators' arithmetic, without a database."""

from __future__ import annotations

import itertools
import statistics
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.consultation.indicators import per_period, week_of
from carematch.consultation.workflow import (
    ACTORS,
    FINAL,
    STATUSES,
    TRANSITIONS,
    TransitionRefused,
    allowed_from,
    check_transition,
)

# The machine as the brief describes it, written out independently of TRANSITIONS.
EXPECTED_MOVES = {
    ("requested", "accepted"),
    ("accepted", "answered"),
    ("answered", "closed"),
    ("requested", "declined"),
    ("accepted", "declined"),
    ("requested", "cancelled"),
    ("accepted", "cancelled"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_pair_of_statuses_is_allowed_exactly_when_expected(current, target):
    if (current, target) in EXPECTED_MOVES:
        check_transition(current, target, "需要面诊")
    else:
        with pytest.raises(TransitionRefused) as refused:
            check_transition(current, target, "需要面诊")
        assert refused.value.allowed == allowed_from(current)


def test_every_path_ends_in_a_final_status_and_every_move_has_an_end():
    assert set(FINAL) == {"closed", "declined", "cancelled"}

    def ends(status: str) -> set[str]:
        if status in FINAL:
            return {status}
        return set().union(*(ends(n) for n in TRANSITIONS[status]))

    assert ends("requested") == set(FINAL)
    assert {t for moves in TRANSITIONS.values() for t in moves} == set(ACTORS)


@pytest.mark.parametrize("target", ["declined", "cancelled"])
def test_a_decline_or_cancellation_needs_a_reason(target):
    for reason in (None, "", "  \n"):
        with pytest.raises(TransitionRefused, match="reason"):
            check_transition("requested", target, reason)


day = st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 31))
row = st.tuples(
    day,
    st.sampled_from(STATUSES),
    st.one_of(st.none(), st.integers(0, 3000).map(lambda m: timedelta(minutes=m))),
)


@given(st.lists(row, max_size=60), st.sampled_from(["month", "week", "day"]))
def test_per_period_counts_every_request_once_and_takes_the_median_of_its_period(rows, period):
    stats = per_period(rows, period)
    assert sum(s.requested for s in stats) == len(rows)
    assert [s.period for s in stats] == sorted(s.period for s in stats)
    key = {"month": lambda d: f"{d:%Y-%m}", "week": week_of, "day": str}[period]
    for s in stats:
        mine = [r for r in rows if key(r[0]) == s.period]
        assert s.requested == len(mine) == sum(s.by_status.values())
        waits = [r[2].total_seconds() / 60 for r in mine if r[2] is not None]
        assert s.answered == len(waits)
        expected = round(statistics.median(waits), 1) if waits else None
        assert s.median_turnaround_minutes == expected
