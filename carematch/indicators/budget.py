"""Budget allocation proposal (预算分配, R-EV-2): higher risk, larger share; part follows results.

Rule (every number is published with the proposal):

- the **risk part**, ``risk_share · B`` (70 % by default), is split in proportion to
  ``population × (risk index + floor)``; the floor (10 index points by default) keeps the
  least risky community, whose index is 0 by construction, from getting nothing;
- the **results part**, ``(1 − risk_share) · B``, is split in proportion to
  ``population × max(results score, 0)``, where the results score is the improvement of the
  community's indicators (e.g. percentage points of control rate gained over the last period,
  from the indicator series); when no community has a positive score the results part is split
  by population;
- each community's exact amount (the two parts added) is rounded to whole yuan by the
  largest-remainder method (floors first, then one yuan each to the largest fractional parts,
  ties to the lower community code), so the amounts add up to ``B`` exactly and none is more
  than one yuan from its exact share.

Between two communities with the same population and results score, the riskier never gets
less (a property test holds this). Pure: exact arithmetic with :class:`fractions.Fraction`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any

DEFAULT_RISK_SHARE = 0.7
DEFAULT_FLOOR = 10.0


class BudgetInputError(ValueError):
    """A budget request the rule cannot serve (the message says why)."""


@dataclass(frozen=True)
class BudgetInput:
    """One community's claim: its population, risk index and results score."""

    community: str
    population: int
    risk_index: float
    results: float = 0.0


@dataclass(frozen=True)
class BudgetLine:
    """One community's proposed amount (whole yuan) and the two parts it is made of."""

    community: str
    population: int
    risk_index: float
    results: float
    risk_part: float
    results_part: float
    amount: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def largest_remainder(total: int, exact: Sequence[Fraction], keys: Sequence[str]) -> list[int]:
    """Whole amounts that add up to ``total``, each the floor of its exact share or one more.

    Examples:
        >>> largest_remainder(10, [Fraction(10, 3)] * 3, ["a", "b", "c"])
        [4, 3, 3]
    """
    floors = [int(x) for x in exact]  # exact shares are ≥ 0: int() floors
    left = total - sum(floors)
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), keys[i]))
    for i in order[:left]:
        floors[i] += 1
    return floors


def _weights(values: Sequence[Fraction]) -> list[Fraction]:
    total = sum(values, Fraction(0))
    return [v / total for v in values] if total > 0 else []


def allocate_budget(
    total: int,
    communities: Sequence[BudgetInput],
    *,
    risk_share: float = DEFAULT_RISK_SHARE,
    floor: float = DEFAULT_FLOOR,
) -> list[BudgetLine]:
    """Split ``total`` yuan between communities by risk × population and by results.

    Args:
        total: the budget B in whole yuan (≥ 0).
        communities: one input per community (codes unique).
        risk_share: the share of B that follows risk (0 to 1).
        floor: index points added to every risk index before weighting (≥ 0).

    Returns:
        One line per community in input order; the amounts sum to ``total``.

    Raises:
        BudgetInputError: on a negative budget, a share outside [0, 1], duplicate codes,
            negative populations, or no population at all.
    """
    if total < 0:
        raise BudgetInputError("the budget must be at least 0 yuan")
    if not 0 <= risk_share <= 1:
        raise BudgetInputError("risk_share must lie between 0 and 1")
    if floor < 0:
        raise BudgetInputError("floor must be at least 0")
    codes = [c.community for c in communities]
    if len(set(codes)) != len(codes):
        raise BudgetInputError("each community may appear once")
    if any(c.population < 0 or c.risk_index < 0 for c in communities):
        raise BudgetInputError("populations and risk indices must be at least 0")
    population = [Fraction(c.population) for c in communities]
    if not communities or sum(population) == 0:
        raise BudgetInputError("no community with residents to allocate to")
    share = Fraction(risk_share)
    risk_money = total * share
    results_money = total - risk_money
    by_risk = _weights(
        [
            p * (Fraction(c.risk_index) + Fraction(floor))
            for p, c in zip(population, communities, strict=True)
        ]
    ) or _weights(population)
    by_results = _weights(
        [
            p * max(Fraction(c.results), Fraction(0))
            for p, c in zip(population, communities, strict=True)
        ]
    ) or _weights(population)
    risk_parts = [risk_money * w for w in by_risk]
    results_parts = [results_money * w for w in by_results]
    exact = [r + s for r, s in zip(risk_parts, results_parts, strict=True)]
    amounts = largest_remainder(total, exact, codes)
    return [
        BudgetLine(
            c.community,
            c.population,
            c.risk_index,
            c.results,
            round(float(r), 2),
            round(float(s), 2),
            amount,
        )
        for c, r, s, amount in zip(communities, risk_parts, results_parts, amounts, strict=True)
    ]


def results_from(values: Mapping[str, float] | None, codes: Sequence[str]) -> dict[str, float]:
    """Each community's results score (0 where none is given)."""
    values = values or {}
    return {code: float(values.get(code, 0.0)) for code in codes}
