"""Collaborative filtering: planted structure it must learn, the split it must respect, its errors.

The planted data: two communities of residents with disjoint tastes (each uses only its own
community's clinics), the larger community making the globally popular items its own. A model
that learns who uses what recommends each person their own community's items; popularity
recommends the big community's items to everyone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from carematch.core.errors import InvalidInput
from carematch.matching.cf import (
    ALSParams,
    CollaborativeFilter,
    Interactions,
    PopularityBaseline,
    evaluate,
    hit_rate,
    leave_last_out,
    rating_weight,
    service_item,
    service_of,
    tune,
)
from carematch.matching.errors import ServiceUseRejected
from carematch.synth import generate_city

START = date(2024, 7, 1)
FAST = ALSParams(factors=2, alpha=4.0, iterations=10)
"""Two latent factors: the planted structure's rank (more only fit the noise within a community)."""


def two_communities(
    seed: int = 3, sizes: tuple[int, int] = (100, 40), items_each: int = 12
) -> tuple[list[tuple[str, str, date, int | None]], dict[str, str]]:
    """Visits of two communities with disjoint items; returns the rows and each person's side."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, date, int | None]] = []
    side: dict[str, str] = {}
    # Zipf-like within a community, so popularity has a clear order to exploit.
    taste = 1.0 / np.arange(1, items_each + 1) ** 0.3
    taste /= taste.sum()
    for community, size in zip("AB", sizes, strict=True):
        for u in range(size):
            person = f"{community}-person-{u:03d}"
            side[person] = community
            visits = int(rng.integers(3, 8))
            days = np.sort(rng.choice(700, size=visits, replace=False))
            for day in days:
                item = f"{community}-clinic-{rng.choice(items_each, p=taste):02d}"
                stars = int(rng.integers(1, 6)) if rng.random() < 0.7 else None
                rows.append((person, item, START + timedelta(days=int(day)), stars))
    order = rng.permutation(len(rows))
    return [rows[i] for i in order], side


@pytest.fixture(scope="module")
def planted() -> tuple[Interactions, dict[str, str]]:
    rows, side = two_communities()
    return Interactions.from_rows(rows), side


# --- planted structure ------------------------------------------------------------------------


def test_cf_beats_popularity_on_two_communities(planted) -> None:
    interactions, side = planted
    result = evaluate(interactions, params=FAST)

    assert result.hit_rate_cf > result.hit_rate_popularity
    # Popularity's top 5 belong to the big community, so the small one is never served by it.
    small = [i for i, p in enumerate(result.hold_out.train.persons) if side[p] == "B"]
    b_visits = np.isin(result.hold_out.person, small)
    assert b_visits.any()
    top5 = [r.item for r in result.popularity.recommend("anyone", 5)]
    assert all(item.startswith("A-") for item in top5)
    cf_hits_b = [
        interactions.items[item] in [r.item for r in result.cf.recommend(interactions.persons[p])]
        for p, item in zip(
            result.hold_out.person[b_visits], result.hold_out.item[b_visits], strict=True
        )
    ]
    assert np.mean(cf_hits_b) > 0.5


def test_cf_beats_popularity_with_tuned_parameters(planted) -> None:
    interactions, _ = planted
    grid = tuple(ALSParams(factors=f, alpha=4.0, iterations=10) for f in (2, 8, 16))
    result = evaluate(interactions, grid=grid)

    assert result.tuning is not None and result.tuning.validation_visits > 0
    # Validation finds the planted rank: extra factors only fit the noise within a community.
    assert result.tuning.best.factors == 2
    assert result.cf.params == result.tuning.best
    assert result.hit_rate_cf > result.hit_rate_popularity


def test_scores_rank_own_community_above_the_other(planted) -> None:
    interactions, side = planted
    model = CollaborativeFilter.fit(interactions, FAST)
    a_items = [i for i in interactions.items if i.startswith("A-")]
    b_items = [i for i in interactions.items if i.startswith("B-")]

    for person, community in side.items():
        a, b = model.scores(person, a_items), model.scores(person, b_items)
        assert ((a >= 0) & (a <= 1)).all() and ((b >= 0) & (b <= 1)).all()
        own, other = (a, b) if community == "A" else (b, a)
        assert own.min() > other.max(), person
        assert own.max() == pytest.approx(1.0)  # the favourite item anchors the scale


def test_cold_start_person_gets_popularity(planted) -> None:
    interactions, _ = planted
    model = CollaborativeFilter.fit(interactions, FAST)
    baseline = PopularityBaseline.fit(interactions)
    items = list(interactions.items)

    cold = model.scores("someone-new", items)
    np.testing.assert_allclose(cold, baseline.scores("anyone", items))
    assert cold.max() == pytest.approx(1.0)
    assert model.recommend("someone-new", 4) == baseline.recommend("anyone", 4)


def test_unknown_items_score_zero_and_are_never_recommended(planted) -> None:
    interactions, _ = planted
    model = CollaborativeFilter.fit(interactions, FAST)
    person = interactions.persons[0]

    scores = model.scores(person, ["no-such-clinic", interactions.items[0]])
    assert scores[0] == 0.0
    assert model.recommend(person, 5, candidates=["no-such-clinic"]) == []


def test_recommend_respects_candidates_and_exclude_seen(planted) -> None:
    interactions, side = planted
    model = CollaborativeFilter.fit(interactions, FAST)
    person = next(p for p, c in side.items() if c == "A")
    used = {
        interactions.items[i]
        for i in interactions.item[interactions.person == interactions.persons.index(person)]
    }
    b_items = [i for i in interactions.items if i.startswith("B-")]

    within = model.recommend(person, 3, candidates=b_items)
    assert len(within) == 3 and all(r.item in b_items for r in within)
    fresh = model.recommend(person, 5, exclude_seen=True)
    assert fresh and not used & {r.item for r in fresh}
    ranked = model.recommend(person, 5)
    assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)


def test_hit_rate_agrees_with_recommend(planted) -> None:
    interactions, _ = planted
    split = leave_last_out(interactions)
    for model in (CollaborativeFilter.fit(split.train, FAST), PopularityBaseline.fit(split.train)):
        for exclude_seen in (False, True):
            one_by_one = np.mean(
                [
                    split.train.items[item]
                    in [
                        r.item
                        for r in model.recommend(
                            split.train.persons[p], 5, exclude_seen=exclude_seen
                        )
                    ]
                    for p, item in zip(split.person, split.item, strict=True)
                ]
            )
            assert hit_rate(model, split, 5, exclude_seen=exclude_seen) == pytest.approx(one_by_one)


def test_within_group_ranking_matches_recommend_with_candidates() -> None:
    rows, _ = two_communities(seed=9)
    # Split each community's clinics over two services, so a group is a service.
    rows = [
        (p, service_item(i, "vaccination" if int(i[-2:]) % 2 else "checkup"), d, r)
        for p, i, d, r in rows
    ]
    interactions = Interactions.from_rows(rows)
    split = leave_last_out(interactions)
    model = CollaborativeFilter.fit(split.train, FAST)
    items = split.train.items

    expected = np.mean(
        [
            items[item]
            in [
                r.item
                for r in model.recommend(
                    split.train.persons[p],
                    2,
                    candidates=[i for i in items if service_of(i) == service_of(items[item])],
                )
            ]
            for p, item in zip(split.person, split.item, strict=True)
        ]
    )
    assert hit_rate(model, split, 2, group_of=service_of) == pytest.approx(expected)
    assert hit_rate(model, split, 2, group_of=service_of) > hit_rate(model, split, 2)


# --- the split --------------------------------------------------------------------------------


def test_held_out_visit_is_never_in_the_training_matrix() -> None:
    rows, _ = two_communities(seed=5)
    # Each person's last visit goes to a clinic nobody else ever uses.
    last: dict[str, date] = {}
    for p, _, d, _ in rows:
        last[p] = max(last.get(p, d), d)
    rows = [(p, f"solo-{p}" if d == last[p] else i, d, r) for p, i, d, r in rows]
    interactions = Interactions.from_rows(rows)

    split = leave_last_out(interactions)
    confidence = split.train.confidence(FAST.alpha)

    assert len(split) == len(interactions.persons)
    assert len(split.train) == len(interactions) - len(split)
    for p, item in zip(split.person, split.item, strict=True):
        assert interactions.items[item] == f"solo-{interactions.persons[p]}"
        assert confidence[p, item] == 0
    assert split.train.visits_per_item()[split.item].sum() == 0
    model = CollaborativeFilter.fit(split.train, FAST)
    assert hit_rate(model, split, 5) == 0.0  # never used in training: cannot be recommended


def test_last_visit_is_by_date_then_input_order() -> None:
    interactions = Interactions.from_rows(
        [
            ("p1", "late", "2025-03-01", None),
            ("p1", "early", "2024-01-01", None),
            ("p2", "first-given", "2025-05-05", None),
            ("p2", "second-given", "2025-05-05", None),
            ("p3", "only", "2025-01-01", None),
        ]
    )
    split = leave_last_out(interactions)
    held = {
        interactions.persons[p]: interactions.items[i]
        for p, i in zip(split.person, split.item, strict=True)
    }
    assert held == {"p1": "late", "p2": "second-given"}
    # The single-visit person is not evaluated and keeps the visit for training.
    assert "only" in {split.train.items[i] for i in split.train.item}
    assert sorted(split.visit.tolist()) == [0, 3]


def test_tuning_never_sees_the_test_visits(planted) -> None:
    interactions, _ = planted
    split = leave_last_out(interactions)
    # Move every held-out visit to another clinic: what was tuned must not change.
    moved_item = (interactions.item.copy() + 1) % len(interactions.items)
    item = np.where(
        np.isin(np.arange(len(interactions)), split.visit), moved_item, interactions.item
    )
    moved = Interactions(
        interactions.persons,
        interactions.items,
        interactions.person,
        item,
        interactions.date,
        interactions.rating,
    )

    grid = (ALSParams(factors=4, iterations=8), ALSParams(factors=8, iterations=8))
    first = evaluate(interactions, grid=grid)
    second = evaluate(moved, grid=grid)
    assert first.tuning is not None and second.tuning is not None
    assert first.tuning.results == second.tuning.results
    assert first.hit_rate_cf != second.hit_rate_cf  # the test answers did change
    assert tune(split.train, grid=grid).results == first.tuning.results


# --- determinism and confidence ---------------------------------------------------------------


def test_fit_is_deterministic_for_a_seed(planted) -> None:
    interactions, _ = planted
    one = CollaborativeFilter.fit(interactions, FAST)
    two = CollaborativeFilter.fit(interactions, FAST)
    other = CollaborativeFilter.fit(interactions, replace(FAST, seed=FAST.seed + 1))

    np.testing.assert_array_equal(one.user_factors, two.user_factors)
    np.testing.assert_array_equal(one.item_factors, two.item_factors)
    assert not np.array_equal(one.item_factors, other.item_factors)
    assert evaluate(interactions, params=FAST).hit_rate_cf == (
        evaluate(interactions, params=FAST).hit_rate_cf
    )


def test_input_order_does_not_change_the_model() -> None:
    rows, _ = two_communities(seed=4)
    one = CollaborativeFilter.fit(Interactions.from_rows(rows), FAST)
    two = CollaborativeFilter.fit(Interactions.from_rows(rows[::-1]), FAST)
    np.testing.assert_array_equal(one.item_factors, two.item_factors)


def test_confidence_weights_visits_by_rating() -> None:
    interactions = Interactions.from_rows(
        [
            ("p", "clinic", "2024-01-01", 1),
            ("p", "clinic", "2024-02-01", None),
            ("p", "hospital", "2024-03-01", 5),
            ("q", "clinic", "2024-03-01", 3),
        ]
    )
    c = interactions.confidence(alpha=2.0).toarray()
    p, q = interactions.persons.index("p"), interactions.persons.index("q")
    clinic, hospital = interactions.items.index("clinic"), interactions.items.index("hospital")

    assert c[p, clinic] == pytest.approx(1 + 2.0 * (0.5 + 1.0))
    assert c[p, hospital] == pytest.approx(1 + 2.0 * 1.5)
    assert c[q, clinic] == pytest.approx(1 + 2.0 * 1.0)  # 3★ counts as an unrated visit
    assert c[q, hospital] == 0  # never used: not stored, implicit confidence 1, preference 0
    np.testing.assert_allclose(rating_weight(np.array([0, 1, 3, 5])), [1.0, 0.5, 1.0, 1.5])


def test_accepted_value_shapes() -> None:
    interactions = Interactions.from_rows(
        [
            ("p", "a", date(2024, 1, 2), "4"),
            ("p", "b", "2024-01-03", 4.0),
            ("p", "c", np.datetime64("2024-01-04"), ""),
            ("p", "d", "2024-01-05", float("nan")),
            ("p", "e", "2024-01-06"),
        ]
    )
    assert interactions.rating.tolist() == [4, 4, 0, 0, 0]
    assert interactions.date.astype(str).tolist() == [
        "2024-01-02",
        "2024-01-03",
        "2024-01-04",
        "2024-01-05",
        "2024-01-06",
    ]


# --- errors -----------------------------------------------------------------------------------

GOOD = ("p", "clinic", "2024-01-01", 4)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (("", "clinic", "2024-01-01", 4), "person id"),
        ((None, "clinic", "2024-01-01", 4), "person id"),
        (("p", 17, "2024-01-01", 4), "item id"),
        (("p", "clinic", "2024-13-01", 4), "date"),
        (("p", "clinic", "", 4), "date"),
        (("p", "clinic", np.datetime64("NaT"), 4), "date"),
        (("p", "clinic", "2024-01-01", 6), "rating"),
        (("p", "clinic", "2024-01-01", 0), "rating"),
        (("p", "clinic", "2024-01-01", 3.5), "rating"),
        (("p", "clinic", "2024-01-01", "good"), "rating"),
        (("p", "clinic", "2024-01-01", True), "rating"),
        (("p", "clinic"), "expected"),
        (("p", "clinic", "2024-01-01", 4, "extra"), "at most 4"),
        ("p,clinic,2024-01-01", "expected"),
    ],
)
def test_bad_row_is_rejected_with_its_number(bad, words) -> None:
    with pytest.raises(ServiceUseRejected) as caught:
        Interactions.from_rows([GOOD, GOOD, bad])
    error = caught.value
    assert isinstance(error, InvalidInput) and error.status == 400
    assert error.problem()["type"] == "/problems/service-use-rejected"
    assert "row 3" in error.detail and words in error.detail
    assert error.extra["row"] == 3


def test_empty_and_ragged_input_is_rejected() -> None:
    with pytest.raises(ServiceUseRejected, match="no visits"):
        Interactions.from_rows([])
    with pytest.raises(ServiceUseRejected, match="differ in length"):
        Interactions.from_columns(["p", "q"], ["a"], ["2024-01-01", "2024-01-02"])


@pytest.mark.parametrize(
    "params",
    [
        {"factors": 0},
        {"factors": True},
        {"alpha": 0.0},
        {"regularization": -1.0},
        {"iterations": 0},
        {"num_threads": 0},
    ],
)
def test_bad_parameters_are_rejected(params) -> None:
    with pytest.raises(ServiceUseRejected) as caught:
        ALSParams(**params)
    assert next(iter(params)) in caught.value.detail


def test_bad_calls_are_rejected(planted) -> None:
    interactions, _ = planted
    split = leave_last_out(interactions)
    model = CollaborativeFilter.fit(split.train, FAST)
    with pytest.raises(ServiceUseRejected, match="k must be"):
        model.recommend(interactions.persons[0], 0)
    with pytest.raises(ServiceUseRejected, match="not one string"):
        model.scores(interactions.persons[0], "A-clinic-01")
    with pytest.raises(ServiceUseRejected, match="not fitted on this split"):
        hit_rate(CollaborativeFilter.fit(interactions, FAST), split)
    with pytest.raises(ServiceUseRejected, match="provider id"):
        service_item("PRV|1", "checkup")
    single = Interactions.from_rows([("p", "a", "2024-01-01"), ("q", "b", "2024-01-01")])
    with pytest.raises(ServiceUseRejected, match="no person has two visits"):
        evaluate(single, params=FAST)


# --- a generated city -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city_use(tmp_path_factory) -> Interactions:
    out: Path = tmp_path_factory.mktemp("cf-city")
    generate_city(residents=3000, seed=7, out=out)
    table = pacsv.read_csv(out / "service_use.csv").to_pydict()
    items = [
        service_item(p, s) for p, s in zip(table["provider_id"], table["service_code"], strict=True)
    ]
    return Interactions.from_columns(table["ehr_record_id"], items, table["date"], table["rating"])


def test_generated_city_cf_beats_popularity_within_the_service(city_use) -> None:
    result = evaluate(city_use, group_of=service_of)

    assert len(result.hold_out) > 300
    assert result.hit_rate_cf > result.hit_rate_popularity


def test_generated_city_cf_beats_popularity_over_all_items(city_use) -> None:
    result = evaluate(city_use)

    assert result.hit_rate_cf > result.hit_rate_popularity
    assert hit_rate(result.cf, result.hold_out, exclude_seen=True) > hit_rate(
        result.popularity, result.hold_out, exclude_seen=True
    )
