"""Recommendation: Pareto front against a brute-force dominance check, a monotone re-weightable
ranking, the satisfaction prior, the CF blend, slots from opening hours, and the reason line in
Chinese and English through the web's catalogues.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

import carematch.matching.recommend as recommend_module
from carematch.matching.errors import InvalidWeights, RecommendationInputRejected
from carematch.matching.recommend import (
    OBJECTIVES,
    WEIGHT_NAMES,
    CostPart,
    Demand,
    DistancePart,
    LanguagePart,
    Objectives,
    Option,
    RatingPart,
    Ratings,
    SatisfactionPrior,
    SimilarPeoplePart,
    SkillPart,
    SlotPart,
    capability_fit,
    estimated_earliest_slot,
    format_reason,
    language_match,
    normalise_weights,
    pareto_front,
    posterior_satisfaction,
    recommend,
    weighted_ranking,
)
from carematch.providers.hours import CITY_TZ, parse_hours
from carematch.web.i18n import LOCALE_DIR, translations

# Wednesday 1 July 2026, 09:00 city time.
AS_OF = datetime(2026, 7, 1, 9, 0, tzinfo=CITY_TZ)
# +1 when higher is better, -1 when lower is better: written out here, not taken from the engine.
DIRECTION = {
    "distance_km": -1,
    "wait_hours": -1,
    "fit": +1,
    "cost": -1,
    "language": +1,
    "satisfaction": +1,
}
ZH = translations("zh_Hans_CN").gettext
EN = translations("en").gettext


def dominates(a: Objectives, b: Objectives) -> bool:
    """a is no worse than b everywhere and better somewhere."""
    signed = [(s * getattr(a, f), s * getattr(b, f)) for f, s in DIRECTION.items()]
    return all(x >= y for x, y in signed) and any(x > y for x, y in signed)


def brute_front(points: list[Objectives]) -> list[int]:
    return [
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p) for j, q in enumerate(points) if j != i)
    ]


def demand(**changes) -> Demand:
    values = {"service": "chronic_followup", "lat": 23.13, "lon": 113.30, "as_of": AS_OF}
    values.update(changes)
    return Demand(**values)


def option(pid: str, km: float = 1.0, hours_later: float = 0.0, price: float = 0.0, **kw) -> Option:
    return Option(pid, km, AS_OF + timedelta(hours=hours_later), price, **kw)


# Small grids make ties and equal points common, which is where dominance is easy to get wrong.
def _value(low: float, high: float) -> st.SearchStrategy[float]:
    grid = st.sampled_from([low, (low + high) / 2, high])
    return st.one_of(grid, st.floats(low, high, allow_nan=False))


objectives = st.builds(
    Objectives,
    distance_km=_value(0, 30),
    wait_hours=_value(0, 200),
    fit=_value(0, 1),
    cost=_value(0, 500),
    language=_value(0, 1),
    satisfaction=_value(1, 5),
)
weights = st.dictionaries(
    st.sampled_from(WEIGHT_NAMES), st.sampled_from([0.0, 0.5, 1.0, 3.0]) | st.floats(0, 10)
).filter(lambda w: sum(w.values()) > 0)


# --- Pareto front --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.lists(objectives, max_size=25))
def test_pareto_front_matches_brute_force_dominance(points):
    front = pareto_front(points)

    assert front == brute_front(points)
    members = [points[i] for i in front]
    for i, p in enumerate(points):
        if i in front:
            assert not any(dominates(q, p) for q in points)
        else:
            assert any(dominates(m, p) for m in members)


def test_equal_points_both_stay_on_the_front():
    same = Objectives(1.0, 2.0, 1.0, 0.0, 1.0, 4.0)
    worse = Objectives(2.0, 2.0, 1.0, 0.0, 1.0, 4.0)

    assert pareto_front([same, worse, same]) == [0, 2]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            _value(0, 20),  # km
            _value(0, 72),  # hours until the slot
            _value(0, 300),  # price
            st.frozensets(st.sampled_from(["elderly_chronic_care", "tb", "mental_health"])),
            st.frozensets(st.sampled_from(["zh", "yue", "en"])),
            st.integers(0, 30),
            st.sampled_from([1.0, 3.0, 4.5, 5.0]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_recommend_front_is_the_non_dominated_options(rows):
    options = [
        option(
            f"P{i:02d}",
            km,
            hours,
            price,
            capabilities=caps,
            languages=langs,
            ratings=Ratings(n, mean),
        )
        for i, (km, hours, price, caps, langs, n, mean) in enumerate(rows)
    ]
    d = demand(languages=("yue", "zh"), needs=("elderly_chronic_care", "tb"))

    result = recommend(d, options)

    points = [r.objectives for r in result.ranking]
    expected = {result.ranking[i].provider_id for i in brute_front(points)}
    assert {r.provider_id for r in result.front} == expected
    assert [r.provider_id for r in result.front] == [
        r.provider_id for r in result.ranking if r.provider_id in expected
    ]


# --- weighted ranking ----------------------------------------------------------------------


def _improve(p: Objectives, name: str, step: float) -> Objectives:
    """p with one objective moved a share ``step`` of the way towards its best value."""
    best = {
        "distance_km": 0,
        "wait_hours": 0,
        "fit": 1,
        "cost": 0,
        "language": 1,
        "satisfaction": 5,
    }
    values = {f: getattr(p, f) for f in DIRECTION}
    values[name] = values[name] + (best[name] - values[name]) * step
    return Objectives(**values)


def _rank(ids, points, w, cf) -> dict[str, int]:
    return {r.provider_id: k for k, r in enumerate(weighted_ranking(ids, points, w, cf))}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(objectives, min_size=1, max_size=15),
    weights,
    st.data(),
)
def test_improving_one_objective_never_lowers_the_rank(points, w, data):
    ids = [f"P{i:02d}" for i in range(len(points))]
    cf = data.draw(st.lists(_value(0, 1), min_size=len(points), max_size=len(points)))
    who = data.draw(st.integers(0, len(points) - 1))
    what = data.draw(st.sampled_from([*DIRECTION, "cf"]))
    step = data.draw(st.floats(0, 1))

    before = _rank(ids, points, w, cf)
    if what == "cf":
        cf = [*cf]
        cf[who] = cf[who] + (1 - cf[who]) * step
    else:
        points = [*points]
        points[who] = _improve(points[who], what, step)
    after = _rank(ids, points, w, cf)

    assert after[ids[who]] <= before[ids[who]]


def test_weights_decide_between_near_and_soon():
    near_late = Objectives(0.5, 48.0, 1.0, 0.0, 1.0, 4.0)
    far_now = Objectives(6.0, 0.0, 1.0, 0.0, 1.0, 4.0)
    ids = ["A", "B"]

    by_distance = weighted_ranking(ids, [near_late, far_now], {"distance": 1})
    by_wait = weighted_ranking(ids, [near_late, far_now], {"wait": 1})

    assert [r.provider_id for r in by_distance] == ["A", "B"]
    assert [r.provider_id for r in by_wait] == ["B", "A"]
    # The best in an objective scores 1 in it, the worst 0.
    assert by_distance[0].scores["distance"] == 1.0
    assert by_distance[1].scores["distance"] == 0.0


def test_scores_are_min_max_for_units_and_raw_for_shares():
    points = [
        Objectives(1.0, 10.0, 0.5, 100.0, 0.5, 3.0),
        Objectives(3.0, 30.0, 1.0, 0.0, 1.0, 5.0),
        Objectives(2.0, 20.0, 0.0, 50.0, 0.0, 4.0),
    ]

    ranked = {r.provider_id: r for r in weighted_ranking(["A", "B", "C"], points)}

    c = ranked["C"].scores
    assert c["distance"] == pytest.approx(0.5)
    assert c["wait"] == pytest.approx(0.5)
    assert c["cost"] == pytest.approx(0.5)
    assert c["satisfaction"] == pytest.approx(0.5)
    assert ranked["A"].scores["fit"] == 0.5
    assert ranked["A"].scores["language"] == 0.5
    assert ranked["A"].scores["cf"] == 0.0


def test_an_objective_everyone_shares_scores_one():
    points = [Objectives(2.0, 5.0, 1.0, 30.0, 1.0, 4.0), Objectives(2.0, 9.0, 1.0, 30.0, 1.0, 4.0)]

    ranked = weighted_ranking(["A", "B"], points, {"distance": 1, "wait": 1})

    assert all(r.scores["distance"] == 1.0 for r in ranked)
    assert ranked[0].score == pytest.approx(1.0)
    assert ranked[1].score == pytest.approx(0.5)


@settings(max_examples=100, deadline=None)
@given(st.permutations([f"P{i}" for i in range(6)]))
def test_ties_are_broken_by_provider_id_whatever_the_input_order(ids):
    same = Objectives(1.0, 2.0, 1.0, 10.0, 1.0, 4.0)

    ranked = weighted_ranking(ids, [same] * len(ids))

    assert [r.provider_id for r in ranked] == sorted(ids)


def test_ties_in_exact_arithmetic_are_not_decided_by_rounding_noise():
    # 0.1 + 0.2 != 0.3 in floating point; the two totals are equal in exact arithmetic.
    a = Objectives(0.0, 0.0, 0.1, 0.0, 0.2, 1.0)
    b = Objectives(0.0, 0.0, 0.3, 0.0, 0.0, 1.0)

    ranked = weighted_ranking(["Z", "A"], [a, b], {"fit": 1, "language": 1})

    assert [r.provider_id for r in ranked] == ["A", "Z"]


# --- weights -------------------------------------------------------------------------------


def test_weights_are_normalised_and_unnamed_objectives_weigh_nothing():
    w = normalise_weights({"distance": 3, "cost": 1})

    assert w["distance"] == pytest.approx(0.75)
    assert w["cost"] == pytest.approx(0.25)
    assert set(w) == set(WEIGHT_NAMES)
    assert all(w[name] == 0 for name in WEIGHT_NAMES if name not in ("distance", "cost"))


def test_default_weights_cover_every_objective_and_sum_to_one():
    w = normalise_weights(None)

    assert math.fsum(w.values()) == pytest.approx(1.0)
    assert all(w[name] > 0 for name in OBJECTIVES)


@pytest.mark.parametrize(
    ("given_weights", "says"),
    [
        ({"distance": 1, "speed": 2}, "unknown objective(s) 'speed'"),
        ({"distance": -0.5}, "'distance' is -0.5"),
        ({"distance": float("nan")}, "'distance' is nan"),
        ({"wait": float("inf")}, "'wait' is inf"),
        ({"fit": "high"}, "'fit' is 'high', not a number"),
        ({"fit": True}, "'fit' is True, not a number"),
        ({"distance": 0, "cost": 0}, "all zero"),
        ({}, "all zero"),
        ([("distance", 1)], "must be a mapping"),
    ],
)
def test_bad_weights_are_rejected_with_a_clear_error(given_weights, says):
    with pytest.raises(InvalidWeights) as caught:
        normalise_weights(given_weights)

    assert says in caught.value.detail
    problem = caught.value.problem()
    assert problem["status"] == 400
    assert problem["type"] == "/problems/invalid-weights"


def test_recommend_rejects_bad_weights_before_scoring():
    with pytest.raises(InvalidWeights, match="unknown objective"):
        recommend(demand(), [option("P1")], weights={"distnace": 1})


# --- satisfaction prior --------------------------------------------------------------------


def test_one_five_star_rating_does_not_top_forty_good_ones():
    prior = SatisfactionPrior(mean=4.0, strength=5)
    lucky = Ratings(count=1, mean=5.0)
    proven = Ratings(count=40, mean=4.6)

    # (5 × 4.0 + 5) / 6 and (5 × 4.0 + 40 × 4.6) / 45, worked by hand.
    assert posterior_satisfaction(lucky, prior) == pytest.approx(25 / 6)
    assert posterior_satisfaction(proven, prior) == pytest.approx(204 / 45)
    result = recommend(
        demand(),
        [option("P1", ratings=lucky), option("P2", ratings=proven)],
        weights={"satisfaction": 1},
        prior=prior,
    )
    assert [r.provider_id for r in result.ranking] == ["P2", "P1"]


def test_an_unrated_provider_sits_at_the_prior_mean():
    assert posterior_satisfaction(Ratings(), SatisfactionPrior(4.2)) == pytest.approx(4.2)


def test_without_a_prior_the_options_own_ratings_are_pooled():
    prior = SatisfactionPrior.pooled([Ratings(3, 5.0), Ratings(1, 1.0), Ratings()])

    assert prior.mean == pytest.approx(4.0)  # (3 × 5 + 1) / 4
    assert SatisfactionPrior.pooled([]).mean == 3.0
    result = recommend(
        demand(),
        [option("P1", ratings=Ratings(3, 5.0)), option("P2", ratings=Ratings(1, 1.0))],
    )
    by_id = {r.provider_id: r.objectives.satisfaction for r in result.ranking}
    assert by_id["P1"] == pytest.approx((5 * 4.0 + 15) / 8)
    assert by_id["P2"] == pytest.approx((5 * 4.0 + 1) / 6)


@pytest.mark.parametrize(("mean", "strength"), [(0.5, 5), (5.5, 5), (4.0, 0), (4.0, -1)])
def test_a_prior_off_the_scale_is_rejected(mean, strength):
    with pytest.raises(RecommendationInputRejected, match="prior"):
        SatisfactionPrior(mean, strength)


# --- collaborative filtering ----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(st.lists(objectives, min_size=1, max_size=12), weights, st.data())
def test_cf_scores_change_nothing_while_cf_weighs_nothing(points, w, data):
    ids = [f"P{i:02d}" for i in range(len(points))]
    cf = data.draw(st.lists(st.floats(0, 1), min_size=len(points), max_size=len(points)))
    w = {**w, "cf": 0.0}
    if sum(w.values()) == 0:
        w["distance"] = 1.0

    with_cf = [r.provider_id for r in weighted_ranking(ids, points, w, cf)]
    without = [r.provider_id for r in weighted_ranking(ids, points, w, None)]

    assert with_cf == without


def test_weighted_cf_reorders_near_ties_but_not_the_front():
    options = [option("P1", km=1.0), option("P2", km=1.1)]
    cf = {"P2": 0.9}

    plain = recommend(demand(), options, weights={"distance": 1, "cf": 0}, cf=cf)
    blended = recommend(demand(), options, weights={"distance": 1, "cf": 2}, cf=cf)

    assert [r.provider_id for r in plain.ranking] == ["P1", "P2"]
    assert [r.provider_id for r in blended.ranking] == ["P2", "P1"]
    # P1 is nearer and otherwise equal, so it alone is on the front either way.
    assert [r.provider_id for r in plain.front] == ["P1"]
    assert [r.provider_id for r in blended.front] == ["P1"]
    assert blended.ranking[0].cf == 0.9
    assert blended.ranking[1].cf == 0.0  # missing from the mapping


def test_cf_is_mentioned_only_when_weighted_and_strong():
    options = [option("P1"), option("P2")]
    cf = {"P1": 0.8, "P2": 0.3}

    weighted = recommend(demand(), options, weights={"distance": 1, "cf": 1}, cf=cf)
    unweighted = recommend(demand(), options, weights={"distance": 1}, cf=cf)

    parts = {r.provider_id: r.reason for r in weighted.ranking}
    assert SimilarPeoplePart(0.8) in parts["P1"]
    assert not any(isinstance(p, SimilarPeoplePart) for p in parts["P2"])
    assert not any(isinstance(p, SimilarPeoplePart) for r in unweighted.ranking for p in r.reason)


@pytest.mark.parametrize("score", [-0.1, 1.5, float("nan"), "high"])
def test_a_cf_score_outside_zero_to_one_is_rejected(score):
    with pytest.raises(RecommendationInputRejected, match="cf score of P1"):
        recommend(demand(), [option("P1")], cf={"P1": score})


# --- objectives of an option ----------------------------------------------------------------


def test_capability_fit_is_the_share_of_needs_covered():
    assert capability_fit((), frozenset()) == 1.0
    assert capability_fit(("tb",), {"tb", "hiv"}) == 1.0
    assert capability_fit(("tb",), {"hiv"}) == 0.0
    assert capability_fit(("tb", "hiv", "mental_health"), {"hiv"}) == pytest.approx(1 / 3)


def test_language_match_prefers_the_first_choice():
    assert language_match((), {"zh"}) == 1.0
    assert language_match(("yue", "zh"), {"zh", "yue"}) == 1.0
    assert language_match(("yue", "zh"), {"zh"}) == 0.5
    assert language_match(("ug", "yue", "zh"), {"zh"}) == pytest.approx(1 / 3)
    assert language_match(("ug",), {"zh"}) == 0.0


def test_cost_defaults_to_the_price_and_takes_the_callers_function():
    options = [option("P1", price=30.0), option("P2", price=80.0)]

    by_price = recommend(demand(), options, weights={"cost": 1})
    # A benefit that covers all of P2's price (as a policy might) and 60 % of P1's.
    covered = recommend(
        demand(),
        options,
        weights={"cost": 1},
        cost=lambda o: 0.0 if o.provider_id == "P2" else o.price * 0.4,
    )

    assert [(r.provider_id, r.objectives.cost) for r in by_price.ranking] == [
        ("P1", 30.0),
        ("P2", 80.0),
    ]
    assert [r.provider_id for r in covered.ranking] == ["P2", "P1"]
    assert covered.ranking[1].objectives.cost == pytest.approx(12.0)


def test_wait_counts_hours_from_the_as_of_time():
    result = recommend(demand(), [option("P1", hours_later=26.5)])

    assert result.ranking[0].objectives.wait_hours == pytest.approx(26.5)


def test_options_without_a_slot_are_left_out_and_listed():
    options = [Option("P2", 1.0, None, 0.0), option("P1"), Option("P0", 0.1, None, 0.0)]

    result = recommend(demand(), options)

    assert [r.provider_id for r in result.ranking] == ["P1"]
    assert result.unbookable == ("P0", "P2")


def test_no_options_give_an_empty_answer():
    result = recommend(demand(), [])

    assert result.ranking == () and result.front == () and result.unbookable == ()


# --- the earliest slot from opening hours ----------------------------------------------------


OFFICE = parse_hours("Mo-Fr 08:00-12:00,14:00-17:30")


@pytest.mark.parametrize(
    ("as_of", "wait_days", "slot"),
    [
        # Wednesday 09:00, open, same day: now.
        (datetime(2026, 7, 1, 9, 0), 0, datetime(2026, 7, 1, 9, 0)),
        # Wednesday 12:30, lunch break: the afternoon opening.
        (datetime(2026, 7, 1, 12, 30), 0, datetime(2026, 7, 1, 14, 0)),
        # Wednesday 09:00 with a one-day wait: Thursday's first opening.
        (datetime(2026, 7, 1, 9, 0), 1, datetime(2026, 7, 2, 8, 0)),
        # Friday 16:00 with a one-day wait lands on Saturday, closed: Monday 08:00.
        (datetime(2026, 7, 3, 16, 0), 1, datetime(2026, 7, 6, 8, 0)),
        # Friday 18:00, closed for the weekend.
        (datetime(2026, 7, 3, 18, 0), 0, datetime(2026, 7, 6, 8, 0)),
    ],
)
def test_estimated_slot_is_the_first_opening_after_the_wait(as_of, wait_days, slot):
    assert estimated_earliest_slot(OFFICE, as_of, wait_days) == slot.replace(tzinfo=CITY_TZ)


def test_estimated_slot_reads_an_aware_time_in_city_time():
    # Tuesday 23:30 UTC is Wednesday 07:30 in the city: the slot is Wednesday 08:00.
    as_of = datetime(2026, 6, 30, 23, 30, tzinfo=UTC)

    assert estimated_earliest_slot(OFFICE, as_of, 0) == datetime(2026, 7, 1, 8, tzinfo=CITY_TZ)


def test_a_van_stop_gives_its_window_and_a_site_never_open_gives_none():
    stop = parse_hours("Sa 09:00-16:00")

    assert estimated_earliest_slot(stop, AS_OF, 0) == datetime(2026, 7, 4, 9, tzinfo=CITY_TZ)
    assert estimated_earliest_slot(parse_hours(""), AS_OF, 0) is None


def test_a_negative_wait_is_rejected():
    with pytest.raises(RecommendationInputRejected, match="wait_days -1"):
        estimated_earliest_slot(OFFICE, AS_OF, -1)


# --- the reason line ------------------------------------------------------------------------


def test_reason_line_in_chinese_and_english():
    d = demand(needs=("elderly_chronic_care",))
    options = [
        option(
            "P1",
            km=0.8,
            hours_later=5,
            price=0.0,
            capabilities=frozenset({"elderly_chronic_care", "family_doctor"}),
        )
    ]

    parts = recommend(d, options).ranking[0].reason

    assert format_reason(parts, ZH) == "800 m · 今天14:00有号 · 擅长老年慢病 · 自付0元"
    assert (
        format_reason(parts, EN)
        == "800 m · slot today 14:00 · skilled in elderly chronic care · pays ¥0"
    )


def test_reason_parts_are_structured_facts():
    d = demand(languages=("yue", "zh"), needs=("tb", "hiv"))
    rich = option(
        "P1",
        km=2.345,
        hours_later=24,
        price=12.5,
        capabilities=frozenset({"hiv", "tb"}),
        languages=frozenset({"zh", "yue"}),
        ratings=Ratings(23, 4.56),
    )
    plain = option("P2", km=0.1, languages=frozenset({"zh"}))

    by_id = {r.provider_id: r.reason for r in recommend(d, [rich, plain]).ranking}

    assert by_id["P1"] == (
        DistancePart(2.345),
        SlotPart(datetime(2026, 7, 2, 9, tzinfo=CITY_TZ), 1),
        SkillPart(("tb", "hiv")),
        CostPart(12.5),
        LanguagePart("yue"),
        RatingPart(4.56, 23),
    )
    # Mandarin is spoken everywhere, no needed skill, no ratings: nothing to add.
    assert by_id["P2"] == (DistancePart(0.1), SlotPart(AS_OF, 0), CostPart(0.0))
    assert format_reason(by_id["P1"], ZH) == (
        "2.3 km · 明天09:00有号 · 擅长结核病防治、艾滋病防治 · 自付12.50元 · 可用粤语沟通"
        " · 评分4.6（23条）"
    )
    assert format_reason(by_id["P1"], EN) == (
        "2.3 km · slot tomorrow 09:00 · skilled in TB care, HIV care · pays ¥12.50"
        " · speaks Cantonese · rated 4.6 (23)"
    )


@pytest.mark.parametrize(
    ("km", "zh", "en"),
    [
        (0.8, "800 m", "800 m"),
        (0.004, "10 m", "10 m"),
        (0.355, "360 m", "360 m"),
        (0.9996, "1.0 km", "1.0 km"),  # rounds to 1,000 m, so it is shown in km
        (1.0, "1.0 km", "1.0 km"),
        (12.34, "12.3 km", "12.3 km"),
    ],
)
def test_distances_under_a_kilometre_are_in_metres(km, zh, en):
    assert format_reason([DistancePart(km)], ZH) == zh
    assert format_reason([DistancePart(km)], EN) == en


@pytest.mark.parametrize(
    ("slot", "zh", "en"),
    [
        (datetime(2026, 7, 1, 14, 0), "今天14:00有号", "slot today 14:00"),
        (datetime(2026, 7, 2, 8, 30), "明天08:30有号", "slot tomorrow 08:30"),
        (datetime(2026, 7, 4, 9, 0), "周六09:00有号", "slot Sat 09:00"),
        (datetime(2026, 7, 7, 9, 0), "周二09:00有号", "slot Tue 09:00"),
        # A week ahead the weekday would read as today's: the date instead.
        (datetime(2026, 7, 8, 9, 0), "7月8日09:00有号", "slot 8 Jul 09:00"),
        (datetime(2026, 8, 3, 9, 0), "8月3日09:00有号", "slot 3 Aug 09:00"),
    ],
)
def test_slot_days_are_relative_to_the_as_of_day(slot, zh, en):
    result = recommend(demand(), [Option("P1", 1.0, slot.replace(tzinfo=CITY_TZ), 0.0)])

    part = result.ranking[0].reason[1]
    assert format_reason([part], ZH) == zh
    assert format_reason([part], EN) == en


def test_today_is_the_city_s_today_for_an_aware_as_of():
    # 17:30 UTC on 1 July is 01:30 on 2 July in the city, so a 09:00 slot on 2 July is today.
    as_of = datetime(2026, 7, 1, 17, 30, tzinfo=UTC)
    slot = datetime(2026, 7, 2, 9, 0, tzinfo=CITY_TZ)

    result = recommend(demand(as_of=as_of), [Option("P1", 1.0, slot, 0.0)])

    assert format_reason([result.ranking[0].reason[1]], EN) == "slot today 09:00"


@pytest.mark.parametrize(
    ("yuan", "zh"), [(0.0, "自付0元"), (45.0, "自付45元"), (7.5, "自付7.50元")]
)
def test_amounts_show_cents_only_when_there_are_some(yuan, zh):
    assert format_reason([CostPart(yuan)], ZH) == zh


def test_an_unknown_language_code_is_shown_as_it_is():
    assert format_reason([LanguagePart("kk")], EN) == "speaks kk"


def _reason_msgids() -> set[str]:
    path = recommend_module.__file__
    return {
        message if isinstance(message, str) else message[0]
        for _line, message, _comments, _context in extract_from_file("python", path)
    }


def test_every_reason_message_is_in_both_catalogues_and_translated_in_chinese():
    # babel.cfg extracts carematch/web only, so nothing else keeps these entries from being
    # dropped by a future `pybabel update`.
    msgids = _reason_msgids()
    catalogues = {}
    for locale in ("zh_Hans_CN", "en"):
        with (LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
            catalogues[locale] = read_po(handle, locale=locale)

    assert len(msgids) > 40  # the extractor found the N_() calls
    assert sorted(m for m in msgids if m not in catalogues["en"]) == []
    zh = catalogues["zh_Hans_CN"]
    assert sorted(m for m in msgids if m not in zh or not zh[m].string or zh[m].fuzzy) == []


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"service": "teleportation"}, "unknown service 'teleportation'"),
        ({"lat": 91.0}, "lat 91.0"),
        ({"lon": float("nan")}, "lon nan"),
        ({"needs": ("flying",)}, "unknown capability 'flying'"),
        ({"needs": "tb"}, "needs must be a tuple"),
        ({"languages": "yue"}, "languages must be a tuple"),
        ({"as_of": "2026-07-01"}, "as_of '2026-07-01' is not a date and time"),
    ],
)
def test_a_bad_demand_is_rejected_naming_the_field(changes, says):
    with pytest.raises(RecommendationInputRejected) as caught:
        recommend(demand(**changes), [option("P1")])

    assert says in caught.value.detail
    assert caught.value.problem()["status"] == 400
    assert caught.value.problem()["type"] == "/problems/recommendation-input-rejected"


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (Option("P1", -1.0, AS_OF, 0.0), "distance of P1 is -1.0"),
        (Option("P1", float("inf"), AS_OF, 0.0), "distance of P1 is inf"),
        (Option("P1", 1.0, AS_OF, -5.0), "price of P1 is -5.0"),
        (Option("P1", 1.0, AS_OF - timedelta(hours=1), 0.0), "slot of P1"),
        (Option("P1", 1.0, AS_OF, 0.0, ratings=Ratings(3, 7.0)), "mean rating of P1 is 7.0"),
        (Option("P1", 1.0, AS_OF, 0.0, ratings=Ratings(-1, 4.0)), "rating count of P1 is -1"),
    ],
)
def test_a_bad_option_is_rejected_naming_the_provider(bad, says):
    with pytest.raises(RecommendationInputRejected, match=says.replace(".", r"\.")):
        recommend(demand(), [option("P0"), bad])


def test_a_provider_offered_twice_is_rejected():
    with pytest.raises(RecommendationInputRejected, match="provider P1 is offered twice"):
        recommend(demand(), [option("P1"), option("P1", km=2.0)])


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf")])
def test_a_cost_function_giving_a_bad_amount_is_rejected(amount):
    with pytest.raises(RecommendationInputRejected, match="cost of P1"):
        recommend(demand(), [option("P1")], cost=lambda o: amount)


def test_numpy_numbers_are_numbers():
    # cf.py scores in float32 and a registry read through pandas gives NumPy scalars.
    rated = Option(
        "P1", np.float64(0.5), AS_OF, np.float32(10.0), ratings=Ratings(np.int64(3), 4.5)
    )

    result = recommend(
        demand(),
        [rated, option("P2", km=2.0)],
        weights={"distance": np.float32(1), "cf": np.int64(1)},
        cf={"P1": np.float32(0.75)},
    )

    assert [r.provider_id for r in result.ranking] == ["P1", "P2"]
    assert result.ranking[0].cf == 0.75
    assert result.weights["distance"] == 0.5
