"""Community health risk index (社区健康风险指数, R-EV-2): a transparent, published formula.

Four components per community, each a share of residents, each turned so that higher means
riskier:

==================  ======  ===========================================================
component           weight  raw value (higher = riskier)
==================  ======  ===========================================================
chronic prevalence  0.35    adults (≥ 18) with hypertension or diabetes / adults
uncontrolled        0.25    1 − control rate; control rate = patients (hypertension or
                            diabetes) whose latest readings are controlled (BP < 140/90,
                            fasting glucose < 7.0 mmol/L) / patients; a patient without a
                            reading counts as not controlled (control not shown)
low health literacy 0.20    1 − surveyed adults with basic health literacy (健康素养) /
                            surveyed adults
uncovered           0.20    1 − residents signed to a family doctor / residents
==================  ======  ===========================================================

Each raw component is min-max scaled over the communities compared,
``s = (x − min) / (max − min)`` (0 when every community has the same value), and the index is
``100 · Σ wⱼ sⱼ / Σ wⱼ``: 0 is the least risky community on every component, 100 the most. A
component a community has no data for (no adults surveyed, no patients) takes the
population-weighted mean of the communities that have it, so missing data neither raises nor
lowers a community's rank. Pure: plain values in, plain values out; the components come from
the features view through :data:`COMPONENTS_SQL` (one set-based DuckDB step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

# Published weights (they sum to 1; the formula divides by their sum all the same).
WEIGHTS: dict[str, float] = {
    "chronic_prevalence": 0.35,
    "uncontrolled": 0.25,
    "low_literacy": 0.20,
    "uncovered": 0.20,
}
COMPONENTS = tuple(WEIGHTS)
CONTROLLED_SBP = 140
CONTROLLED_DBP = 90
CONTROLLED_GLUCOSE = 7.0

# Over the features view (``features``: person_id, age, community, conditions, sbp, dbp,
# glucose, signed_family_doctor) and the literacy survey (``literacy``: person_id,
# health_literacy): one row per community with the shares the index starts from.
COMPONENTS_SQL = f"""
WITH people AS (
    SELECT f.*,
           coalesce(list_contains(conditions, 'hypertension'), FALSE) AS htn,
           coalesce(list_contains(conditions, 'diabetes'), FALSE) AS dm
    FROM features f WHERE community IS NOT NULL
), patients AS (
    SELECT *,
           (NOT htn OR (sbp < {CONTROLLED_SBP} AND dbp < {CONTROLLED_DBP}))
           AND (NOT dm OR glucose < {CONTROLLED_GLUCOSE}) AS controlled
    FROM people WHERE htn OR dm
)
SELECT p.community,
       count(*) AS population,
       count(*) FILTER (WHERE p.age >= 18) AS adults,
       count(*) FILTER (WHERE p.age >= 18 AND (p.htn OR p.dm)) AS adult_patients,
       (SELECT count(*) FROM patients c WHERE c.community = p.community) AS patients,
       (SELECT count(*) FROM patients c
         WHERE c.community = p.community AND coalesce(c.controlled, FALSE)) AS controlled,
       count(l.person_id) FILTER (WHERE p.age >= 18) AS surveyed,
       count(l.person_id) FILTER (WHERE p.age >= 18 AND l.health_literacy) AS literate,
       count(*) FILTER (WHERE coalesce(p.signed_family_doctor, FALSE)) AS signed
FROM people p LEFT JOIN literacy l USING (person_id)
GROUP BY p.community
ORDER BY p.community
"""


@dataclass(frozen=True)
class CommunityCounts:
    """What the index is computed from, for one community (counts of residents)."""

    community: str
    population: int
    adults: int = 0
    adult_patients: int = 0
    patients: int = 0
    controlled: int = 0
    surveyed: int = 0
    literate: int = 0
    signed: int = 0

    def raw(self) -> dict[str, float | None]:
        """The four raw components (higher = riskier); None where there is nothing to count."""

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        control = share(self.controlled, self.patients)
        literacy = share(self.literate, self.surveyed)
        coverage = share(self.signed, self.population)
        return {
            "chronic_prevalence": share(self.adult_patients, self.adults),
            "uncontrolled": None if control is None else 1 - control,
            "low_literacy": None if literacy is None else 1 - literacy,
            "uncovered": None if coverage is None else 1 - coverage,
        }


@dataclass(frozen=True)
class RiskScore:
    """One community's risk index with its raw and scaled components."""

    community: str
    population: int
    index: float
    raw: dict[str, float | None]
    filled: dict[str, float]
    scaled: dict[str, float]
    imputed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def risk_index(
    communities: Sequence[CommunityCounts], weights: Mapping[str, float] | None = None
) -> list[RiskScore]:
    """The risk index of each community, compared with the others given (highest first).

    Args:
        communities: counts per community (e.g. from :data:`COMPONENTS_SQL`).
        weights: component → weight (default :data:`WEIGHTS`); every component must be named.

    Returns:
        One score per community, sorted by index (highest first), then community code.

    Examples:
        >>> low = CommunityCounts("A", 100, 80, 8, 10, 8, 50, 40, 60)
        >>> high = CommunityCounts("B", 100, 80, 24, 30, 6, 50, 10, 20)
        >>> [(s.community, s.index) for s in risk_index([low, high])]
        [('B', 100.0), ('A', 0.0)]
    """
    weights = dict(weights or WEIGHTS)
    if set(weights) != set(COMPONENTS) or any(w < 0 for w in weights.values()):
        raise ValueError(f"weights must give each of {', '.join(COMPONENTS)} a value ≥ 0")
    total_weight = sum(weights.values())
    if total_weight <= 0:
        raise ValueError("at least one weight must be above 0")
    raws = [c.raw() for c in communities]
    fill: dict[str, float] = {}
    for name in COMPONENTS:
        known: list[tuple[float, int]] = [
            (value, c.population)
            for r, c in zip(raws, communities, strict=True)
            if (value := r[name]) is not None
        ]
        people = sum(p for _, p in known)
        if people:
            fill[name] = sum(v * p for v, p in known) / people
        elif known:
            fill[name] = sum(v for v, _ in known) / len(known)
        else:
            fill[name] = 0.0
    filled: list[dict[str, float]] = [
        {n: value if (value := r[n]) is not None else fill[n] for n in COMPONENTS} for r in raws
    ]
    bounds = {
        n: (min(f[n] for f in filled), max(f[n] for f in filled)) if filled else (0.0, 0.0)
        for n in COMPONENTS
    }
    scores = []
    for counts, raw, values in zip(communities, raws, filled, strict=True):
        scaled = {}
        for name in COMPONENTS:
            low, high = bounds[name]
            scaled[name] = (values[name] - low) / (high - low) if high > low else 0.0
        index = 100 * sum(weights[n] * scaled[n] for n in COMPONENTS) / total_weight
        scores.append(
            RiskScore(
                counts.community,
                counts.population,
                round(index, 4),
                raw,
                {n: float(v) for n, v in values.items()},
                scaled,
                [n for n in COMPONENTS if raw[n] is None],
            )
        )
    return sorted(scores, key=lambda s: (-s.index, s.community))
