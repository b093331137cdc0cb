"""The risk index formula and the budget rule, on plain values."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.indicators.budget import (
    BudgetInput,
    BudgetInputError,
    allocate_budget,
    largest_remainder,
)
from carematch.indicators.risk_index import CommunityCounts, risk_index


def test_the_index_follows_the_published_formula():
    # Given three communities: A best on everything, C worst on everything, B in between
    a = CommunityCounts("A", 1000, 800, 80, 100, 80, 200, 160, 700)
    b = CommunityCounts("B", 1000, 800, 160, 200, 100, 200, 100, 500)
    c = CommunityCounts("C", 1000, 800, 240, 300, 90, 200, 40, 300)
    scores = {s.community: s for s in risk_index([a, b, c])}
    assert scores["A"].index == 0 and scores["C"].index == 100
    # B sits at the middle of prevalence (0.2 of 0.1..0.3), literacy and coverage, and its
    # uncontrolled share 0.5 against 0.2 (A) and 0.7 (C) scales to 0.6
    expected = 100 * (0.35 * 0.5 + 0.25 * 0.6 + 0.20 * 0.5 + 0.20 * 0.5)
    assert scores["B"].index == pytest.approx(expected)
    assert [s.community for s in risk_index([a, b, c])] == ["C", "B", "A"]


def test_a_missing_component_takes_the_population_weighted_mean():
    a = CommunityCounts("A", 100, 80, 8, 10, 5, 50, 40, 60)
    b = CommunityCounts("B", 300, 240, 48, 60, 30, 0, 0, 150)  # nobody surveyed
    scores = {s.community: s for s in risk_index([a, b])}
    assert scores["B"].imputed == ["low_literacy"]
    assert scores["B"].filled["low_literacy"] == pytest.approx(0.2)  # A's 1 − 40/50
    assert scores["B"].scaled["low_literacy"] == 0.0  # equal to A's: no difference to rank


def test_custom_weights_must_cover_every_component():
    a = CommunityCounts("A", 10, 8, 1, 1, 1, 1, 1, 1)
    with pytest.raises(ValueError, match="each of"):
        risk_index([a], {"chronic_prevalence": 1})


def test_budget_adds_up_and_follows_risk_and_results():
    lines = allocate_budget(
        1_000_000,
        [
            BudgetInput("A", 1000, 0.0, results=0),
            BudgetInput("B", 1000, 50.0, results=2.0),
            BudgetInput("C", 1000, 100.0, results=0),
        ],
        risk_share=0.7,
    )
    by = {line.community: line for line in lines}
    assert sum(line.amount for line in lines) == 1_000_000
    # Risk part 700,000 by (index + 10): 10 : 60 : 110; results part 300,000 all to B
    assert by["A"].risk_part == pytest.approx(700_000 * 10 / 180, abs=0.01)
    assert by["B"].results_part == 300_000 and by["C"].results_part == 0
    assert by["C"].amount > by["A"].amount


def test_without_results_the_results_part_follows_population():
    lines = allocate_budget(
        900, [BudgetInput("A", 100, 0.0), BudgetInput("B", 200, 0.0)], risk_share=0.0
    )
    assert [line.amount for line in lines] == [300, 600]


def test_bad_requests_are_refused():
    with pytest.raises(BudgetInputError, match="at least 0 yuan"):
        allocate_budget(-1, [BudgetInput("A", 1, 1.0)])
    with pytest.raises(BudgetInputError, match="between 0 and 1"):
        allocate_budget(10, [BudgetInput("A", 1, 1.0)], risk_share=1.5)
    with pytest.raises(BudgetInputError, match="once"):
        allocate_budget(10, [BudgetInput("A", 1, 1.0), BudgetInput("A", 2, 1.0)])
    with pytest.raises(BudgetInputError, match="no community"):
        allocate_budget(10, [BudgetInput("A", 0, 1.0)])


community = st.tuples(
    st.integers(1, 5000),
    st.floats(0, 100, allow_nan=False),
    st.floats(-5, 10, allow_nan=False),
)


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(0, 10**9),
    inputs=st.lists(community, min_size=1, max_size=25),
    risk_share=st.floats(0, 1),
)
def test_amounts_sum_to_the_budget_and_stay_within_a_yuan_of_exact(total, inputs, risk_share):
    communities = [BudgetInput(f"C{i:03d}", p, r, s) for i, (p, r, s) in enumerate(inputs)]
    lines = allocate_budget(total, communities, risk_share=risk_share)
    assert sum(line.amount for line in lines) == total
    for line in lines:
        assert line.amount >= 0
        assert abs(line.amount - (line.risk_part + line.results_part)) < 1 + 1e-6 * total


@settings(max_examples=150, deadline=None)
@given(
    total=st.integers(0, 10**8),
    population=st.integers(1, 5000),
    results=st.floats(0, 5, allow_nan=False),
    risks=st.lists(st.floats(0, 100, allow_nan=False), min_size=2, max_size=20),
    others=st.lists(community, max_size=10),
)
def test_higher_risk_never_gets_less_at_equal_population_and_results(
    total, population, results, risks, others
):
    # Given communities that differ only in risk (plus any others)
    same = [BudgetInput(f"S{i:03d}", population, r, results) for i, r in enumerate(risks)]
    rest = [BudgetInput(f"O{i:03d}", p, r, s) for i, (p, r, s) in enumerate(others)]
    lines = allocate_budget(total, same + rest)
    amounts = [(line.risk_index, line.amount) for line in lines[: len(same)]]
    # Then ordering by risk orders the amounts too
    for risk_a, amount_a in amounts:
        for risk_b, amount_b in amounts:
            if risk_a > risk_b:
                assert amount_a >= amount_b


def test_largest_remainder_gives_the_spare_yuan_to_the_largest_fractions():
    exact = [Fraction(5, 2), Fraction(7, 4), Fraction(11, 4)]  # 2.5, 1.75, 2.75 = 7
    assert largest_remainder(7, exact, ["a", "b", "c"]) == [2, 2, 3]
