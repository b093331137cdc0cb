"""The complaint state machine: random transition sequences never reach an invalid state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.feedback.complaints import (
    AWAITING_ANSWER,
    STATUSES,
    TERMINAL,
    TransitionRefused,
    allowed_from,
    answered_on_time,
    check_transition,
    is_overdue,
)

# The moves the issue describes, written out independently of the module's table.
EXPECTED = {
    ("received", "accepted"),
    ("received", "rejected"),
    ("accepted", "investigating"),
    ("accepted", "answered"),
    ("investigating", "answered"),
    ("answered", "closed"),
    ("answered", "investigating"),
}

targets = st.sampled_from([*STATUSES, "overdue", "", "CLOSED"])
notes = st.one_of(st.none(), st.just(""), st.just("   "), st.text(min_size=1, max_size=20))


@given(steps=st.lists(st.tuples(targets, notes), max_size=30))
def test_random_transition_sequences_never_reach_an_invalid_state(steps):
    status = "received"
    for target, note in steps:
        before = status
        try:
            status = check_transition(status, target, note)
        except TransitionRefused as refused:
            assert refused.current == before
            assert (before, target) not in EXPECTED or (
                target in ("answered", "rejected") and not (note and note.strip())
            )
            status = before
        else:
            assert (before, target) in EXPECTED
            assert target not in ("answered", "rejected") or note.strip()
        assert status in STATUSES
        if before in TERMINAL:
            assert status == before


@given(steps=st.lists(st.tuples(targets, notes), max_size=30))
def test_closed_is_terminal(steps):
    for target, note in steps:
        with pytest.raises(TransitionRefused) as refused:
            check_transition("closed", target, note)
        assert refused.value.allowed == ()


def test_every_listed_move_is_allowed_with_a_note_and_no_other():
    for current in STATUSES:
        for target in STATUSES:
            allowed = (current, target) in EXPECTED
            if allowed:
                assert check_transition(current, target, "the answer") == target
            else:
                with pytest.raises(TransitionRefused):
                    check_transition(current, target, "the answer")
        assert set(allowed_from(current)) == {t for c, t in EXPECTED if c == current}


@pytest.mark.parametrize(
    ("current", "target"), [("investigating", "answered"), ("received", "rejected")]
)
def test_answering_and_rejecting_need_a_note(current, target):
    with pytest.raises(TransitionRefused, match="needs a note"):
        check_transition(current, target, "  ")


def test_the_refusal_lists_the_allowed_moves():
    with pytest.raises(TransitionRefused) as refused:
        check_transition("received", "closed", None)

    assert refused.value.allowed == ("accepted", "rejected")


def test_overdue_only_while_the_answer_is_awaited():
    due = datetime(2026, 3, 14, tzinfo=UTC)
    after = due + timedelta(seconds=1)

    assert {s for s in STATUSES if is_overdue(s, due, after)} == AWAITING_ANSWER
    assert not is_overdue("received", due, due - timedelta(seconds=1))
    assert is_overdue("received", due, due)  # the deadline instant itself is late


def test_on_time_means_answered_before_the_deadline():
    due = datetime(2026, 3, 14, tzinfo=UTC)

    assert answered_on_time(due, due - timedelta(minutes=1))
    assert not answered_on_time(due, due)
    assert not answered_on_time(due, None)
