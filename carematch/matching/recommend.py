"""Recommendation of providers for one demand (个性化推荐): Pareto front and weighted ranking.

A pure engine (no database, no web framework). The caller finds candidates with the service
map (``carematch.providers.geo.ServiceMap.nearest``), turns each into an :class:`Option` (its
distance, earliest free slot, price, capability tags, languages and ratings) and calls
:func:`recommend`. The answer holds every bookable option ranked by a weighted score the user
may re-weight, the Pareto front among them, and for each a one-line reason as structured parts
that :func:`format_reason` renders through the web's Babel catalogue.

**Objectives.** Six, each with a direction:

====================  ==========  ============================================================
objective             better      value
====================  ==========  ============================================================
``distance``          lower       great-circle km from the person to the site
``wait``              lower       hours from the demand's as-of time to the earliest free slot
``fit``               higher      :func:`capability_fit`, 0..1
``cost``              lower       out-of-pocket yuan (the caller's cost function; price by
                                  default, until the policy issue computes benefits)
``language``          higher      :func:`language_match`, 0..1
``satisfaction``      higher      :func:`posterior_satisfaction`, stars 1..5 shrunk to a prior
====================  ==========  ============================================================

plus an optional collaborative-filtering score ``cf`` in [0, 1] (``carematch/matching/cf.py``
supplies it as a mapping provider id → score) that enters the weighted ranking only: the front
is about what the person can see for themselves, not about what similar people chose.

**Pareto front.** An option dominates another when it is at least as good in all six
objectives and strictly better in one; the front is the options nobody dominates. Equal
options do not dominate each other, so both stay on the front.

**Weighted ranking.** Each objective becomes a score in [0, 1], 1 best. ``fit``, ``language``
and ``cf`` already are such scores and are used as they are. ``distance``, ``wait``, ``cost``
and ``satisfaction`` have units (km, hours, yuan, stars) and are min-max scaled over the options
of this request: the best option scores 1, the worst 0, so a weight says how much the spread
between the best and worst offer at hand counts, whatever the unit. When every option has the
same value the objective says nothing and scores 1 for all. The total is the weighted mean of
the scores. Both scalings are monotone, so improving one objective of one option never lowers
its rank (the others' scores can only fall). Totals are compared rounded to 10⁻⁹, so rounding
noise never decides between options that are tied in exact arithmetic; the provider id does.

Examples:
    >>> from datetime import datetime
    >>> demand = Demand("chronic_followup", 23.13, 113.30, datetime(2026, 7, 1, 9))
    >>> options = [
    ...     Option("P1", 0.8, datetime(2026, 7, 1, 14), price=0.0),
    ...     Option("P2", 3.5, datetime(2026, 7, 1, 9), price=0.0),
    ... ]
    >>> result = recommend(demand, options, weights={"distance": 1})
    >>> [r.provider_id for r in result.ranking], [r.provider_id for r in result.front]
    (['P1', 'P2'], ['P1', 'P2'])
    >>> format_reason(result.ranking[0].reason, lambda message: message)
    '800 m · slot today 14:00 · pays ¥0'
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as clock_time
from types import MappingProxyType

import numpy as np

from carematch.matching.errors import InvalidWeights, RecommendationInputRejected
from carematch.providers.catalogue import CAPABILITIES, service_catalogue
from carematch.providers.hours import CITY_TZ, WeeklyHours, to_city_time, week_second

OBJECTIVES = ("distance", "wait", "fit", "cost", "language", "satisfaction")
WEIGHT_NAMES = (*OBJECTIVES, "cf")
# A starting point the user moves with sliders: nearness and an early slot matter most to
# people who must take time off work; cf is small so that it reorders near-ties only.
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "distance": 0.25,
        "wait": 0.20,
        "fit": 0.15,
        "cost": 0.10,
        "language": 0.10,
        "satisfaction": 0.10,
        "cf": 0.10,
    }
)
# Pseudo-ratings at the prior mean added to every provider's ratings (see
# posterior_satisfaction): with 5, one 5-star rating moves a provider a sixth of the way from
# the city's mean towards 5, while forty ratings outweigh the prior eight to one.
PRIOR_STRENGTH = 5.0
# The prior mean when nobody among the options has been rated: the middle of the 1-5 scale.
NEUTRAL_RATING = 3.0
# Reason lines mention the CF signal only when it is weighted and at least this strong.
CF_MENTION = 0.5
# Mandarin is spoken everywhere in the city, so naming it in a reason would say nothing.
COMMON_LANGUAGE = "zh"
_RANK_DECIMALS = 9

CostFunction = Callable[["Option"], float]
Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a reason-line message for extraction; :func:`format_reason` translates it.

    A local copy of ``carematch.web.i18n.N_``: that module imports FastAPI, which a pure
    engine must not.
    """
    return message


# --- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demand:
    """A person's demand (需求) for one service, as the recommender needs it.

    Args:
        service: a code of the service catalogue.
        lat, lon: where the person is, degrees (WGS 84).
        as_of: when the person asks; naive means city time. Waits and "today/tomorrow" count
            from it.
        languages: the person's languages in order of preference (``("yue", "zh")``); empty
            when any will do.
        needs: capability tags the demand calls for (usually one, e.g.
            ``("elderly_chronic_care",)``); empty when any provider of the service will do.
    """

    service: str
    lat: float
    lon: float
    as_of: datetime
    languages: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ratings:
    """A provider's past satisfaction ratings (满意度评价): how many, and their mean in stars."""

    count: int = 0
    mean: float = 0.0


@dataclass(frozen=True)
class SatisfactionPrior:
    """The belief about a provider before its own ratings: the city's mean rating.

    ``strength`` is how many pseudo-ratings at ``mean`` every provider starts with.
    """

    mean: float
    strength: float = PRIOR_STRENGTH

    def __post_init__(self) -> None:
        if not (_finite(self.mean) and 1 <= self.mean <= 5):
            raise RecommendationInputRejected(f"prior mean {self.mean!r} is not a rating 1-5")
        if not (_finite(self.strength) and self.strength > 0):
            raise RecommendationInputRejected(f"prior strength {self.strength!r} must be > 0")

    @classmethod
    def pooled(
        cls, ratings: Iterable[Ratings], strength: float = PRIOR_STRENGTH
    ) -> SatisfactionPrior:
        """The prior at the mean of all ratings given (every rating counts once).

        Pass every provider's ratings, not only today's candidates, so that the prior is the
        city's mean; with no ratings at all the prior sits mid-scale.
        """
        count = total = 0.0
        for r in ratings:
            count += r.count
            total += r.count * r.mean
        return cls(total / count if count else NEUTRAL_RATING, strength)


@dataclass(frozen=True)
class Option:
    """One provider that could serve the demand, on its terms for the demand's service.

    Args:
        provider_id: the registry's id; ties between options are broken by it.
        distance_km: from the person to the provider's site (``Candidate.distance_km``).
        slot: the earliest free slot; until bookings exist, :func:`estimated_earliest_slot`
            derives it. None: no slot at all (the option is left out of the answer).
        price: the provider's price for the service, yuan.
        capabilities: the provider's capability tags (擅长).
        languages: the languages spoken there.
        ratings: its past satisfaction ratings.
    """

    provider_id: str
    distance_km: float
    slot: datetime | None
    price: float
    capabilities: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    ratings: Ratings = field(default_factory=Ratings)


def estimated_earliest_slot(hours: WeeklyHours, as_of: datetime, wait_days: int) -> datetime | None:
    """The earliest free slot from opening hours and the provider's own wait estimate.

    A stand-in until the booking issue records real slots: ``wait_days`` (the registry's
    "days to the first free slot", 0 for the same day) moves the search to the start of that
    day, and the slot is the first moment the site is open from then on.

    Args:
        hours: the site's weekly hours (a van's stop window for a van), e.g.
            ``ServiceMap.site_hours(service, c.provider_id, c.lat, c.lon)`` of a candidate c.
        as_of: when the person asks; naive means city time.
        wait_days: 0 or more.

    Returns:
        The slot in city time, or None when the site never opens.

    Raises:
        RecommendationInputRejected: a negative wait.
    """
    if wait_days < 0:
        raise RecommendationInputRejected(f"wait_days {wait_days} must be 0 or more")
    local = to_city_time(as_of)
    start = (
        local
        if wait_days == 0
        else datetime.combine(local.date() + timedelta(days=wait_days), clock_time(0), CITY_TZ)
    )
    until = hours.seconds_until_open(week_second(start))
    return None if until is None else start + timedelta(seconds=until)


def capability_fit(needs: Collection[str], capabilities: Collection[str]) -> float:
    """The share of the demand's needed capability tags the provider has (1 when none needed).

    A plain coverage ratio, so the reason line can say exactly which needs are met; with the
    usual single need it is 1 or 0.
    """
    if not needs:
        return 1.0
    return sum(1 for n in needs if n in capabilities) / len(needs)


def language_match(preferred: Sequence[str], spoken: Collection[str]) -> float:
    """How well the provider speaks the person's languages: 1 - i/n for the best one spoken.

    i is the position of the most preferred language spoken there among the person's n
    preferences, so the first choice scores 1, a fallback less, none 0. A person with no
    preference is served equally everywhere (1).
    """
    if not preferred:
        return 1.0
    for i, code in enumerate(preferred):
        if code in spoken:
            return 1 - i / len(preferred)
    return 0.0


def posterior_satisfaction(ratings: Ratings, prior: SatisfactionPrior) -> float:
    """The provider's mean rating shrunk towards the city's mean (a Bayesian average).

    ``(strength × prior mean + sum of ratings) / (strength + count)``: the posterior mean of
    a normal prior worth ``strength`` ratings. One 5-star rating no longer tops the list
    above a provider rated 4.6 by forty people; an unrated provider sits at the city's mean.
    """
    return (prior.strength * prior.mean + ratings.count * ratings.mean) / (
        prior.strength + ratings.count
    )


# --- reason parts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DistancePart:
    """How far: shown in metres under 1 km, else km with one decimal."""

    km: float


@dataclass(frozen=True)
class SlotPart:
    """When the earliest slot is (city time), and how many calendar days after the as-of day."""

    at: datetime
    days_ahead: int


@dataclass(frozen=True)
class SkillPart:
    """The needed capability tags the provider has (擅长)."""

    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class CostPart:
    """What the person pays out of pocket (自付), yuan."""

    yuan: float


@dataclass(frozen=True)
class LanguagePart:
    """A preferred language other than Mandarin that is spoken there."""

    language: str


@dataclass(frozen=True)
class RatingPart:
    """The provider's own mean rating and how many ratings it rests on."""

    mean: float
    count: int


@dataclass(frozen=True)
class SimilarPeoplePart:
    """Collaborative filtering rates it highly for people like this person."""

    score: float


ReasonPart = (
    DistancePart | SlotPart | SkillPart | CostPart | LanguagePart | RatingPart | SimilarPeoplePart
)


# --- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objectives:
    """An option's value in each objective, in its own unit (see the module docstring)."""

    distance_km: float
    wait_hours: float
    fit: float
    cost: float
    language: float
    satisfaction: float


@dataclass(frozen=True)
class Ranked:
    """One option's place in the weighted ranking: total and per-objective scores in [0, 1]."""

    provider_id: str
    score: float
    scores: Mapping[str, float]


@dataclass(frozen=True)
class Recommended:
    """One option in the answer: rank (1 = best), scores, whether on the front, the reason."""

    provider_id: str
    rank: int
    score: float
    scores: Mapping[str, float]
    objectives: Objectives
    cf: float
    on_front: bool
    slot: datetime
    reason: tuple[ReasonPart, ...]


@dataclass(frozen=True)
class Recommendation:
    """The answer for one demand.

    ``ranking`` holds every bookable option, best first; ``front`` the Pareto-optimal ones
    in ranking order; ``weights`` the normalised weights used; ``unbookable`` the options
    left out because they have no slot.
    """

    ranking: tuple[Recommended, ...]
    front: tuple[Recommended, ...]
    weights: Mapping[str, float]
    unbookable: tuple[str, ...]


# --- the engine -------------------------------------------------------------------------------


def normalise_weights(weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Check the user's weights and scale them to sum to 1; None gives the defaults.

    Objectives the mapping does not name weigh 0, so ``{"distance": 1}`` ranks by distance
    alone: what the user set is all that counts.

    Raises:
        InvalidWeights: an unknown name, a value that is not a finite number >= 0, or all zero.
    """
    if weights is None:
        weights = DEFAULT_WEIGHTS
    if not isinstance(weights, Mapping):
        raise InvalidWeights("weights must be a mapping of objective name to number")
    unknown = sorted(str(name) for name in weights if name not in WEIGHT_NAMES)
    if unknown:
        raise InvalidWeights(
            f"unknown objective(s) {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(WEIGHT_NAMES)}"
        )
    clean: dict[str, float] = {}
    for name in WEIGHT_NAMES:
        value = weights.get(name, 0.0)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise InvalidWeights(f"weight {name!r} is {value!r}, not a number")
        if not (math.isfinite(value) and value >= 0):
            raise InvalidWeights(f"weight {name!r} is {value!r}; weights must be finite and >= 0")
        clean[name] = float(value)
    total = math.fsum(clean.values())
    if total <= 0:
        raise InvalidWeights("weights are all zero; give at least one objective a weight > 0")
    return {name: value / total for name, value in clean.items()}


def pareto_front(points: Sequence[Objectives]) -> list[int]:
    """Indices (ascending) of the points no other point dominates.

    One vectorised all-pairs comparison: candidates number tens, so n² × 6 booleans is
    cheaper than any clever sweep in Python.
    """
    if not points:
        return []
    cost = _minimised(points)
    no_worse = (cost[:, None, :] <= cost[None, :, :]).all(axis=2)  # [j, i]: j ≤ i everywhere
    better = (cost[:, None, :] < cost[None, :, :]).any(axis=2)  # [j, i]: j < i somewhere
    dominated = (no_worse & better).any(axis=0)
    return [int(i) for i in np.flatnonzero(~dominated)]


def weighted_ranking(
    provider_ids: Sequence[str],
    points: Sequence[Objectives],
    weights: Mapping[str, float] | None = None,
    cf: Sequence[float] | None = None,
) -> list[Ranked]:
    """Rank options by the weighted mean of their per-objective scores, best first.

    Args:
        provider_ids: one per point; equal totals are ordered by it.
        points: the options' objective values.
        weights: the user's weights (see :func:`normalise_weights`); None for the defaults.
        cf: collaborative-filtering scores in [0, 1], one per point; None counts as 0 for all.

    Raises:
        InvalidWeights: bad weights.
        RecommendationInputRejected: lengths differ, or a cf score outside [0, 1].
    """
    w = normalise_weights(weights)
    if len(provider_ids) != len(points) or (cf is not None and len(cf) != len(points)):
        raise RecommendationInputRejected("provider_ids, points and cf must have equal lengths")
    if cf is not None:
        for pid, value in zip(provider_ids, cf, strict=True):
            _check_cf(pid, value)
    scores = _scores(points, cf)
    totals = scores @ np.array([w[name] for name in WEIGHT_NAMES])
    keys = [
        (-round(float(t), _RANK_DECIMALS), pid) for t, pid in zip(totals, provider_ids, strict=True)
    ]
    order = sorted(range(len(points)), key=keys.__getitem__)
    return [
        Ranked(
            provider_ids[i],
            float(totals[i]),
            MappingProxyType(dict(zip(WEIGHT_NAMES, map(float, scores[i]), strict=True))),
        )
        for i in order
    ]


def recommend(
    demand: Demand,
    options: Sequence[Option],
    *,
    weights: Mapping[str, float] | None = None,
    cost: CostFunction | None = None,
    prior: SatisfactionPrior | None = None,
    cf: Mapping[str, float] | None = None,
) -> Recommendation:
    """Score the options for the demand; return the weighted ranking and the Pareto front.

    Args:
        demand: the person's demand.
        options: the candidates, one per provider (the geo search gives each provider once).
        weights: the user's weights by objective name (``distance``, ``wait``, ``fit``,
            ``cost``, ``language``, ``satisfaction``, ``cf``); None for the defaults.
        cost: out-of-pocket yuan of an option for this person; None charges the price.
            The policy issue's benefit computation plugs in here.
        prior: the city's satisfaction prior (:meth:`SatisfactionPrior.pooled` over every
            provider); None pools the options' own ratings.
        cf: collaborative-filtering scores by provider id, each in [0, 1]; a provider
            missing from it scores 0.

    Raises:
        RecommendationInputRejected: a demand, option, cost or cf value the engine cannot use;
            the detail names the field and the provider.
        InvalidWeights: bad weights.
    """
    _check_demand(demand)
    w = normalise_weights(weights)
    as_of = to_city_time(demand.as_of)
    seen: set[str] = set()
    for option in options:
        _check_option(option, as_of, seen)
    if prior is None:
        prior = SatisfactionPrior.pooled(o.ratings for o in options)

    bookable = [o for o in options if o.slot is not None]
    unbookable = tuple(sorted(o.provider_id for o in options if o.slot is None))
    points: list[Objectives] = []
    slots: list[datetime] = []
    for option in bookable:
        assert option.slot is not None  # filtered above; tells the type checker
        slot = to_city_time(option.slot)
        out_of_pocket = float(cost(option)) if cost is not None else float(option.price)
        if not (math.isfinite(out_of_pocket) and out_of_pocket >= 0):
            raise RecommendationInputRejected(
                f"cost of {option.provider_id} is {out_of_pocket!r}; it must be a finite "
                "amount >= 0"
            )
        slots.append(slot)
        points.append(
            Objectives(
                distance_km=float(option.distance_km),
                wait_hours=(slot - as_of).total_seconds() / 3600,
                fit=capability_fit(demand.needs, option.capabilities),
                cost=out_of_pocket,
                language=language_match(demand.languages, option.languages),
                satisfaction=posterior_satisfaction(option.ratings, prior),
            )
        )
    # Only the options' scores are read (and checked by weighted_ranking): the mapping may
    # hold every provider of the city.
    cf_scores = [cf.get(o.provider_id, 0.0) if cf else 0.0 for o in bookable]
    ids = [o.provider_id for o in bookable]
    ranked = weighted_ranking(ids, points, w, cf_scores)
    on_front = set(pareto_front(points))
    row = {pid: i for i, pid in enumerate(ids)}
    results = []
    for rank, r in enumerate(ranked, start=1):
        i = row[r.provider_id]
        reason = _reason(demand, bookable[i], points[i], slots[i], as_of, cf_scores[i], w["cf"])
        results.append(
            Recommended(
                provider_id=r.provider_id,
                rank=rank,
                score=r.score,
                scores=r.scores,
                objectives=points[i],
                cf=float(cf_scores[i]),
                on_front=i in on_front,
                slot=slots[i],
                reason=reason,
            )
        )
    return Recommendation(
        ranking=tuple(results),
        front=tuple(r for r in results if r.on_front),
        weights=MappingProxyType(w),
        unbookable=unbookable,
    )


def _minimised(points: Sequence[Objectives]) -> np.ndarray:
    """The points as an n × 6 array in which lower is better in every column."""
    return np.array(
        [
            (p.distance_km, p.wait_hours, -p.fit, p.cost, -p.language, -p.satisfaction)
            for p in points
        ],
        dtype=np.float64,
    ).reshape(len(points), len(OBJECTIVES))


def _scores(points: Sequence[Objectives], cf: Sequence[float] | None) -> np.ndarray:
    """Per-objective scores in [0, 1], 1 best, columns in ``WEIGHT_NAMES`` order."""
    n = len(points)
    raw = np.array(
        [(p.distance_km, p.wait_hours, p.fit, p.cost, p.language, p.satisfaction) for p in points],
        dtype=np.float64,
    ).reshape(n, len(OBJECTIVES))
    out = np.empty((n, len(WEIGHT_NAMES)), dtype=np.float64)
    for col, lower_is_better in ((0, True), (1, True), (3, True), (5, False)):
        values = raw[:, col]
        if n == 0:
            continue
        low, high = values.min(), values.max()
        if high == low:
            out[:, col] = 1.0
        elif lower_is_better:
            out[:, col] = (high - values) / (high - low)
        else:
            out[:, col] = (values - low) / (high - low)
    out[:, 2] = raw[:, 2]
    out[:, 4] = raw[:, 4]
    out[:, 6] = np.asarray(cf, dtype=np.float64) if cf is not None else 0.0
    return out


def _reason(
    demand: Demand,
    option: Option,
    point: Objectives,
    slot: datetime,
    as_of: datetime,
    cf_score: float,
    cf_weight: float,
) -> tuple[ReasonPart, ...]:
    """The facts a person weighs, in the order they weigh them: where, when, who, how much."""
    parts: list[ReasonPart] = [
        DistancePart(point.distance_km),
        SlotPart(slot, (slot.date() - as_of.date()).days),
    ]
    covered = tuple(n for n in demand.needs if n in option.capabilities)
    if covered:
        parts.append(SkillPart(covered))
    parts.append(CostPart(point.cost))
    spoken = next((code for code in demand.languages if code in option.languages), None)
    if spoken is not None and spoken != COMMON_LANGUAGE:
        parts.append(LanguagePart(spoken))
    if option.ratings.count:
        parts.append(RatingPart(option.ratings.mean, option.ratings.count))
    if cf_weight > 0 and cf_score >= CF_MENTION:
        parts.append(SimilarPeoplePart(cf_score))
    return tuple(parts)


# --- validation -------------------------------------------------------------------------------


def _finite(value: object) -> bool:
    # numbers.Real rather than float: NumPy scalars (cf.py's float32 scores, pandas columns)
    # are real numbers too.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_demand(demand: Demand) -> None:
    if demand.service not in service_catalogue():
        raise RecommendationInputRejected(f"unknown service {demand.service!r}")
    if not (_finite(demand.lat) and -90 <= demand.lat <= 90):
        raise RecommendationInputRejected(f"lat {demand.lat!r} must be between -90 and 90")
    if not (_finite(demand.lon) and -180 <= demand.lon <= 180):
        raise RecommendationInputRejected(f"lon {demand.lon!r} must be between -180 and 180")
    if not isinstance(demand.as_of, datetime):
        raise RecommendationInputRejected(f"as_of {demand.as_of!r} is not a date and time")
    for name, values in (("languages", demand.languages), ("needs", demand.needs)):
        if isinstance(values, str) or not all(isinstance(v, str) for v in values):
            raise RecommendationInputRejected(f"{name} must be a tuple of codes, not {values!r}")
    unknown = [n for n in demand.needs if n not in CAPABILITIES]
    if unknown:
        raise RecommendationInputRejected(
            f"unknown capability {unknown[0]!r}; known: {', '.join(CAPABILITIES)}"
        )


def _check_option(option: Option, as_of: datetime, seen: set[str]) -> None:
    pid = option.provider_id
    if pid in seen:
        raise RecommendationInputRejected(f"provider {pid} is offered twice")
    seen.add(pid)
    if not (_finite(option.distance_km) and option.distance_km >= 0):
        raise RecommendationInputRejected(f"distance of {pid} is {option.distance_km!r}")
    if not (_finite(option.price) and option.price >= 0):
        raise RecommendationInputRejected(f"price of {pid} is {option.price!r}")
    if option.slot is not None:
        if not isinstance(option.slot, datetime):
            raise RecommendationInputRejected(f"slot of {pid} is {option.slot!r}")
        if to_city_time(option.slot) < as_of:
            raise RecommendationInputRejected(
                f"slot of {pid} ({option.slot.isoformat()}) is before the demand's as-of time"
            )
    r = option.ratings
    if isinstance(r.count, bool) or not isinstance(r.count, numbers.Integral) or r.count < 0:
        raise RecommendationInputRejected(f"rating count of {pid} is {r.count!r}")
    if r.count and not (_finite(r.mean) and 1 <= r.mean <= 5):
        raise RecommendationInputRejected(f"mean rating of {pid} is {r.mean!r}, not 1-5")


def _check_cf(provider_id: str, value: object) -> None:
    if not (_finite(value) and 0 <= value <= 1):  # type: ignore[operator]
        raise RecommendationInputRejected(
            f"cf score of {provider_id} is {value!r}; it must be in [0, 1]"
        )


# --- rendering --------------------------------------------------------------------------------

_SEPARATOR = " · "
_WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_MONTHS = (
    N_("Jan"),
    N_("Feb"),
    N_("Mar"),
    N_("Apr"),
    N_("May"),
    N_("Jun"),
    N_("Jul"),
    N_("Aug"),
    N_("Sep"),
    N_("Oct"),
    N_("Nov"),
    N_("Dec"),
)
CAPABILITY_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "elderly_chronic_care": N_("elderly chronic care"),
        "maternal_child": N_("maternal and child care"),
        "mental_health": N_("mental health"),
        "occupational_health": N_("occupational health"),
        "tb": N_("TB care"),
        "vaccination": N_("vaccination"),
        "rehabilitation": N_("rehabilitation"),
        "emergency": N_("emergency care"),
        "family_doctor": N_("family doctor care"),
        "hiv": N_("HIV care"),
    }
)
LANGUAGE_LABELS: Mapping[str, str] = MappingProxyType(
    {
        "zh": N_("Mandarin"),
        "yue": N_("Cantonese"),
        "en": N_("English"),
        "ug": N_("Uyghur"),
        "bo": N_("Tibetan"),
    }
)


def format_reason(parts: Sequence[ReasonPart], gettext: Gettext) -> str:
    """Render reason parts as one line, e.g. ``800 m · 今天14:00有号 · 擅长老年慢病 · 自付0元``.

    Args:
        parts: a result's ``reason``.
        gettext: the page's translation function (``carematch.web.i18n.translations(locale)
            .gettext``); the identity function gives English.
    """
    return _SEPARATOR.join(_render(part, gettext) for part in parts)


def format_distance(km: float, gettext: Gettext) -> str:
    """Metres to the nearest 10 (at least 10) under 1 km, else km with one decimal."""
    metres = max(10, round(km * 100) * 10)
    if metres < 1000:
        return gettext(N_("%(metres)s m")) % {"metres": metres}
    return gettext(N_("%(km)s km")) % {"km": f"{km:.1f}"}


def _render(part: ReasonPart, gettext: Gettext) -> str:
    if isinstance(part, DistancePart):
        return format_distance(part.km, gettext)
    if isinstance(part, SlotPart):
        if part.days_ahead == 0:
            day = gettext(N_("today"))
        elif part.days_ahead == 1:
            day = gettext(N_("tomorrow"))
        elif part.days_ahead < 7:
            day = gettext(_WEEKDAYS[part.at.weekday()])
        else:  # a weekday name a week or more ahead would be read as this week's
            day = gettext(N_("%(day)s %(month)s")) % {
                "day": part.at.day,
                "month": gettext(_MONTHS[part.at.month - 1]),
            }
        return gettext(N_("slot %(day)s %(time)s")) % {
            "day": day,
            "time": part.at.strftime("%H:%M"),
        }
    if isinstance(part, SkillPart):
        labels = [gettext(CAPABILITY_LABELS.get(c, c)) for c in part.capabilities]
        joined = labels[0]
        for label in labels[1:]:
            joined = gettext(N_("%(first)s, %(second)s")) % {"first": joined, "second": label}
        return gettext(N_("skilled in %(skills)s")) % {"skills": joined}
    if isinstance(part, CostPart):
        cents = round(part.yuan * 100)
        amount = str(cents // 100) if cents % 100 == 0 else f"{cents / 100:.2f}"
        return gettext(N_("pays ¥%(amount)s")) % {"amount": amount}
    if isinstance(part, LanguagePart):
        language = (
            gettext(LANGUAGE_LABELS[part.language])
            if part.language in LANGUAGE_LABELS
            else part.language
        )
        return gettext(N_("speaks %(language)s")) % {"language": language}
    if isinstance(part, RatingPart):
        return gettext(N_("rated %(rating)s (%(count)s)")) % {
            "rating": f"{part.mean:.1f}",
            "count": part.count,
        }
    return gettext(N_("often chosen by people like you"))
