"""The rectification ledger: item moves, evidence, verification, overdue and on-time rates."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.feedback.ledger import (
    ITEM_STATUSES,
    ItemChangeRefused,
    check_item_change,
    finished_on_time,
    on_time_rate,
    shown_status,
)

EXPECTED = {
    ("open", "in_progress"),
    ("open", "done"),
    ("in_progress", "done"),
    ("done", "verified"),
    ("done", "in_progress"),
}


@given(
    steps=st.lists(
        st.tuples(st.sampled_from([*ITEM_STATUSES, "overdue"]), st.booleans(), st.booleans()),
        max_size=30,
    )
)
def test_random_changes_keep_the_item_in_a_valid_state(steps):
    status = "open"
    for target, evidence, official in steps:
        before = status
        try:
            status = check_item_change(status, target, has_evidence=evidence, may_verify=official)
        except ItemChangeRefused:
            status = before
        else:
            assert (before, target) in EXPECTED
            assert target != "done" or evidence
            assert target != "verified" or official
        assert status in ITEM_STATUSES
        if before == "verified":
            assert status == "verified"


def test_done_needs_evidence():
    with pytest.raises(ItemChangeRefused, match="evidence"):
        check_item_change("in_progress", "done", has_evidence=False, may_verify=True)

    assert check_item_change("in_progress", "done", has_evidence=True, may_verify=False) == "done"


def test_only_an_official_verifies():
    with pytest.raises(ItemChangeRefused, match="official"):
        check_item_change("done", "verified", has_evidence=True, may_verify=False)


def test_a_verified_item_is_closed_for_good():
    for target in ITEM_STATUSES:
        with pytest.raises(ItemChangeRefused):
            check_item_change("verified", target, has_evidence=True, may_verify=True)


def test_overdue_is_shown_for_unfinished_items_after_the_deadline_day():
    deadline = date(2026, 3, 31)

    assert shown_status("open", deadline, date(2026, 3, 31)) == "open"  # the day itself is fine
    assert shown_status("open", deadline, date(2026, 4, 1)) == "overdue"
    assert shown_status("in_progress", deadline, date(2026, 4, 1)) == "overdue"
    assert shown_status("done", deadline, date(2026, 4, 1)) == "done"
    assert shown_status("verified", deadline, date(2026, 5, 1)) == "verified"


def test_on_time_is_done_by_the_deadline_day():
    deadline = date(2026, 3, 31)

    assert finished_on_time(deadline, date(2026, 3, 31))
    assert not finished_on_time(deadline, date(2026, 4, 1))
    assert not finished_on_time(deadline, None)


def test_on_time_rate():
    assert on_time_rate(3, 4) == 0.75
    assert on_time_rate(0, 0) is None
    with pytest.raises(ValueError):
        on_time_rate(5, 4)
