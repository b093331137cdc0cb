"""Two-way referral rules without a database: the state machine, direction, medical community."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.familydoctor.referrals import (
    FINAL,
    LEVELS,
    STATUSES,
    TRANSITIONS,
    TransitionRefused,
    allowed_from,
    check_transition,
    community_root,
    direction,
)

# The machine as the issue describes it, written out independently of TRANSITIONS.
EXPECTED_MOVES = {
    ("requested", "accepted"),
    ("requested", "rejected"),
    ("accepted", "arrived"),
    ("arrived", "completed"),
    ("arrived", "returned"),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_every_pair_of_statuses_is_allowed_exactly_when_expected(current, target):
    note = "病情稳定，转回社区康复"
    if (current, target) in EXPECTED_MOVES:
        check_transition(current, target, note)
    else:
        with pytest.raises(TransitionRefused) as refused:
            check_transition(current, target, note)
        assert refused.value.allowed == allowed_from(current)


def test_final_statuses_allow_nothing_and_every_path_ends_in_one():
    assert set(FINAL) == {"rejected", "completed", "returned"}
    assert all(allowed_from(s) == () for s in FINAL)

    def ends(status: str) -> set[str]:
        if status in FINAL:
            return {status}
        return set().union(*(ends(n) for n in TRANSITIONS[status]))

    assert ends("requested") == set(FINAL)


@pytest.mark.parametrize("target", ["rejected", "returned"])
def test_a_rejection_or_return_needs_a_note(target):
    current = "requested" if target == "rejected" else "arrived"
    for note in (None, "", "   "):
        with pytest.raises(TransitionRefused, match="note"):
            check_transition(current, target, note)
    check_transition(current, target, "no bed")


def test_unknown_status_is_refused_with_the_allowed_ones():
    with pytest.raises(TransitionRefused, match="unknown") as refused:
        check_transition("requested", "teleported", None)
    assert refused.value.allowed == ("accepted", "rejected")


def test_direction_follows_the_level_of_care():
    assert direction("village_clinic", "community_health_centre") == "up"
    assert direction("township_hospital", "tertiary_hospital") == "up"
    assert direction("tertiary_hospital", "community_health_centre") == "down"
    assert direction("community_health_centre", "village_clinic") == "down"
    with pytest.raises(ValueError, match="same level"):
        direction("community_health_centre", "township_hospital")
    with pytest.raises(ValueError, match="no part"):
        direction("ngo", "tertiary_hospital")
    with pytest.raises(ValueError, match="no part"):
        direction("tertiary_hospital", "mobile_van")


@given(st.sampled_from(sorted(LEVELS)), st.sampled_from(sorted(LEVELS)))
def test_a_referral_and_its_way_back_go_opposite_ways(a, b):
    if LEVELS[a] == LEVELS[b]:
        return
    assert {direction(a, b), direction(b, a)} == {"up", "down"}


PARENTS = {"V1": "C1", "C1": "H1", "C2": "H1", "H1": None, "H2": None, "V9": "GONE"}


def test_providers_under_one_lead_hospital_share_a_community():
    def parent_of(pid):
        return PARENTS.get(pid)

    assert community_root("V1", parent_of) == "H1"
    assert community_root("C2", parent_of) == "H1"
    assert community_root("H1", parent_of) == "H1"
    assert community_root("H2", parent_of) == "H2"
    # A parent not in the registry ends the chain where the registry's knowledge ends.
    assert community_root("V9", parent_of) == "GONE"


def test_a_loop_of_parents_is_refused():
    loop = {"A": "B", "B": "C", "C": "A"}
    with pytest.raises(ValueError, match="loop"):
        community_root("A", loop.get)
    chain = {f"P{i}": f"P{i + 1}" for i in range(20)}
    with pytest.raises(ValueError, match="longer"):
        community_root("P0", chain.get)
