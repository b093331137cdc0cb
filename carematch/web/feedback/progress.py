"""The public board's monthly progress figures (R-EV-4), read from the indicator store.

Three city-wide figures per month, aggregates only (a share over the whole city, never a
person or a small area): service completion (needs matched to a service), resource use
(policy spend against the year's budget, summed over policies) and participation (residents
taking part in community activities, from the survey extract).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.indicators.models import IndicatorValue
from carematch.indicators.repository import city_code
from carematch.web.i18n import N_

MONTHS = 6
# measure → (indicator, breakdown whose rows are summed, label)
MEASURES = {
    "completion": ("resource_match_rate", "total", N_("Needs matched to a service")),
    "resource_use": ("policy_budget_use", "policy", N_("Policy budget used")),
    "participation": ("social_integration", "total", N_("Residents taking part in activities")),
}


@dataclass(frozen=True)
class MonthProgress:
    """One month's three shares (None: nothing counted that month)."""

    period: str
    values: dict[str, float | None]


def monthly_progress(session: Session, months: int = MONTHS) -> list[MonthProgress]:
    """The last ``months`` computed months, newest first, for the whole city."""
    city = city_code(session)
    if city is None:
        return []
    wanted = {indicator: breakdown for indicator, breakdown, _ in MEASURES.values()}
    rows = session.execute(
        select(
            IndicatorValue.period,
            IndicatorValue.indicator_id,
            IndicatorValue.disaggregation,
            IndicatorValue.numerator,
            IndicatorValue.denominator,
        ).where(
            IndicatorValue.region_code == city,
            IndicatorValue.indicator_id.in_(list(wanted)),
        )
    )
    sums: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    periods: set[str] = set()
    for period, indicator, breakdown, numerator, denominator in rows:
        periods.add(period)
        if breakdown != wanted[indicator] or numerator is None or not denominator:
            continue
        pair = sums[(period, indicator)]
        pair[0] += numerator
        pair[1] += denominator
    out = []
    for period in sorted(periods, reverse=True)[:months]:
        values: dict[str, float | None] = {}
        for measure, (indicator, _, _) in MEASURES.items():
            num, den = sums.get((period, indicator), (0.0, 0.0))
            values[measure] = num / den if den else None
        out.append(MonthProgress(period, values))
    return out
