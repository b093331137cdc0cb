"""The low-rating flag: K consecutive low periods flag a provider; anything else resets."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carematch.feedback.flags import (
    LowRatingRule,
    PeriodMean,
    low_rating_runs,
    means_from_month_totals,
    period_end,
    period_means,
    period_of,
)

RULE = LowRatingRule(threshold=3.0, min_ratings=5, periods=3, period_months=1)


def months(provider: str, start: int, means: list[float | None], count: int = 10) -> list:
    """Consecutive months of 2026 from ``start``; None leaves a month without ratings."""
    return [
        PeriodMean(provider, f"2026-{start + n:02d}", mean, count)
        for n, mean in enumerate(means)
        if mean is not None
    ]


def spans(runs) -> list[tuple[str, str, str]]:
    return [(r.provider_id, r.first_period, r.last_period) for r in runs]


def test_three_consecutive_low_months_flag_the_provider():
    runs = low_rating_runs(months("P1", 1, [2.1, 2.8, 2.9]), RULE)

    assert spans(runs) == [("P1", "2026-01", "2026-03")]
    assert [p.mean for p in runs[0].periods] == [2.1, 2.8, 2.9]


def test_two_low_months_are_not_enough():
    assert low_rating_runs(months("P1", 1, [2.1, 2.8, 4.0]), RULE) == []


def test_a_good_month_in_between_resets_the_count():
    runs = low_rating_runs(months("P1", 1, [2.0, 2.0, 3.5, 2.0, 2.0]), RULE)

    assert runs == []


def test_the_threshold_itself_is_not_low():
    assert low_rating_runs(months("P1", 1, [3.0, 3.0, 3.0]), RULE) == []


def test_a_month_with_too_few_ratings_breaks_the_run():
    rows = [*months("P1", 1, [2.0, 2.0]), PeriodMean("P1", "2026-03", 1.0, 4)]
    rows += months("P1", 4, [2.0, 2.0])

    assert low_rating_runs(rows, RULE) == []


def test_a_month_without_ratings_breaks_the_run():
    assert low_rating_runs(months("P1", 1, [2.0, 2.0, None, 2.0, 2.0]), RULE) == []


def test_a_long_run_is_one_flag_with_all_its_evidence():
    runs = low_rating_runs(months("P1", 1, [2.0, 2.5, 2.2, 2.9, 1.5, 4.5]), RULE)

    assert spans(runs) == [("P1", "2026-01", "2026-05")]
    assert len(runs[0].periods) == 5


def test_two_separate_runs_of_one_provider_are_two_flags():
    rows = months("P1", 1, [2.0, 2.0, 2.0, 4.0, 2.0, 2.0, 2.0])

    assert spans(low_rating_runs(rows, RULE)) == [
        ("P1", "2026-01", "2026-03"),
        ("P1", "2026-05", "2026-07"),
    ]


def test_providers_are_judged_apart():
    rows = months("P1", 1, [2.0, 2.0]) + months("P2", 3, [2.0, 2.0, 2.0])

    assert spans(low_rating_runs(rows, RULE)) == [("P2", "2026-03", "2026-05")]


def test_a_run_crosses_the_new_year():
    rows = [
        PeriodMean("P1", "2025-11", 2.0, 9),
        PeriodMean("P1", "2025-12", 2.0, 9),
        PeriodMean("P1", "2026-01", 2.0, 9),
    ]

    assert spans(low_rating_runs(rows, RULE)) == [("P1", "2025-11", "2026-01")]


def test_quarters_are_consecutive_three_months_apart():
    rule = LowRatingRule(threshold=3.0, min_ratings=5, periods=2, period_months=3)
    rows = [PeriodMean("P1", "2026-01", 2.0, 30), PeriodMean("P1", "2026-04", 2.0, 30)]

    assert spans(low_rating_runs(rows, rule)) == [("P1", "2026-01", "2026-04")]
    with pytest.raises(ValueError, match="does not start"):
        low_rating_runs([PeriodMean("P1", "2026-02", 2.0, 30)], rule)


def test_a_period_given_twice_is_refused():
    rows = [PeriodMean("P1", "2026-01", 2.0, 9), PeriodMean("P1", "2026-01", 2.5, 9)]

    with pytest.raises(ValueError, match="twice"):
        low_rating_runs(rows, RULE)


@pytest.mark.parametrize("label", ["2026-13", "2026-1", "26-01", "2026-00", "x"])
def test_a_malformed_period_is_refused(label):
    with pytest.raises(ValueError, match="YYYY-MM"):
        low_rating_runs([PeriodMean("P1", label, 2.0, 9)], RULE)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 1.0},
        {"threshold": 5.5},
        {"min_ratings": 0},
        {"periods": 0},
        {"period_months": 5},
    ],
)
def test_a_nonsense_rule_is_refused(kwargs):
    with pytest.raises(ValueError):
        LowRatingRule(**kwargs)


means = st.floats(min_value=1, max_value=5, allow_nan=False)


@given(
    rows=st.dictionaries(
        st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.integers(0, 23)),
        st.tuples(means, st.integers(1, 12)),
        max_size=60,
    ),
    data=st.data(),
)
def test_runs_match_a_month_by_month_count_whatever_the_order(rows, data):
    table = [
        PeriodMean(p, f"{2025 + m // 12}-{m % 12 + 1:02d}", mean, count)
        for (p, m), (mean, count) in rows.items()
    ]
    shuffled = data.draw(st.permutations(table))

    runs = low_rating_runs(shuffled, RULE)

    # Independently: walk each provider's 24 months, counting the current streak of low months.
    flagged_months = set()
    for provider in ("P1", "P2", "P3"):
        streak: list[int] = []
        for m in range(25):
            value = rows.get((provider, m))
            if value is not None and value[1] >= 5 and value[0] < 3.0:
                streak.append(m)
                continue
            if len(streak) >= 3:
                flagged_months |= {(provider, s) for s in streak}
            streak = []
    found = {
        (r.provider_id, (int(p.period[:4]) - 2025) * 12 + int(p.period[5:]) - 1)
        for r in runs
        for p in r.periods
    }
    assert found == flagged_months
    assert low_rating_runs(table, RULE) == runs


def test_period_means_average_single_ratings_per_provider_and_month():
    ratings = [
        ("P1", date(2026, 1, 3), 2),
        ("P1", date(2026, 1, 30), 3),
        ("P1", date(2026, 2, 1), 5),
        ("P2", date(2026, 1, 9), 1),
    ]

    assert period_means(ratings, 1) == [
        PeriodMean("P1", "2026-01", 2.5, 2),
        PeriodMean("P1", "2026-02", 5.0, 1),
        PeriodMean("P2", "2026-01", 1.0, 1),
    ]
    assert period_means(ratings[:3], 3) == [PeriodMean("P1", "2026-01", 10 / 3, 3)]
    with pytest.raises(ValueError):
        period_means([("P1", date(2026, 1, 1), 6)], 1)


def test_periods_are_aligned_to_january():
    assert period_of(date(2026, 12, 31), 3) == "2026-10"
    assert period_of(date(2026, 7, 1), 6) == "2026-07"
    assert period_end("2026-12", 1) == date(2027, 1, 1)
    assert period_end("2026-07", 6) == date(2027, 1, 1)


def test_month_totals_fold_into_periods_weighing_every_rating_once():
    totals = [
        ("P1", "2026-01", 10, 5),  # mean 2.0
        ("P1", "2026-02", 45, 10),  # mean 4.5
        ("P1", "2026-04", 3, 1),
        ("P2", "2026-03", 4, 2),
    ]

    assert means_from_month_totals(totals, 3) == [
        PeriodMean("P1", "2026-01", 55 / 15, 15),
        PeriodMean("P1", "2026-04", 3.0, 1),
        PeriodMean("P2", "2026-01", 2.0, 2),
    ]
    assert means_from_month_totals(totals[:1], 1) == [PeriodMean("P1", "2026-01", 2.0, 5)]
    for impossible in [("P1", "2026-01", 4, 5), ("P1", "2026-01", 26, 5), ("P1", "2026-01", 0, 0)]:
        with pytest.raises(ValueError):
            means_from_month_totals([impossible], 1)


@given(
    ratings=st.lists(
        st.tuples(
            st.sampled_from(["P1", "P2"]),
            st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
            st.integers(1, 5),
        ),
        max_size=80,
    ),
    months=st.sampled_from([1, 2, 3, 4, 6, 12]),
)
def test_month_totals_give_the_same_means_as_single_ratings(ratings, months):
    totals: dict[tuple[str, str], list[int]] = {}
    for provider, day, score in ratings:
        acc = totals.setdefault((provider, f"{day:%Y-%m}"), [0, 0])
        acc[0] += score
        acc[1] += 1
    rows = [(p, m, t, c) for (p, m), (t, c) in totals.items()]

    folded = means_from_month_totals(rows, months)
    direct = period_means(ratings, months)

    assert [(m.provider_id, m.period, m.count) for m in folded] == [
        (m.provider_id, m.period, m.count) for m in direct
    ]
    assert all(abs(a.mean - b.mean) < 1e-9 for a, b in zip(folded, direct, strict=True))
