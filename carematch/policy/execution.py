"""Policy execution indicators (政策执行监测, R-PL-5): coverage, budget spend, complaints.

The indicator engine (issue 8) calls :func:`execution_indicators` for a period and an area
and gets one row per policy in force at the end of the period:

``eligible``
    persons of the area eligible for the policy on ``period_end`` (the features view and the
    library in force that day, evaluated set-based in DuckDB).
``served`` / ``coverage``
    eligible persons with at least one service record of one of the policy's services
    performed in the period; ``coverage = served / eligible`` (None when nobody is eligible).
``records``
    those service records.
``spend`` (yuan)
    the benefit paid, estimated from the service records: each record of an eligible person
    is worth its service's unit price × the benefit's share (``rate``, 1 when not given; a
    fixed ``amount`` once per person served instead; ``points`` nothing); at most
    ``quantity`` records a person count, and a person's total is limited to ``cap``. Unit
    prices come from the provider registry (median registered price), else the reference
    table ``unit_prices.yaml``. No payment ledger exists for these benefits, so this is an
    estimate, not an accounting figure (``spend_basis`` says so).
``budget`` / ``budget_used``
    the budget officials set for the policy for the period's end year (:func:`set_budget`),
    and ``spend / budget`` (None when no budget is set).
``complaints``
    complaints received in the period that name one of the policy's services, or name a
    provider (and no service) that offers one of them.

Periods are whole city days, both ends included.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb
import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.core.clock import city_days_utc
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from carematch.policy.errors import PolicyNotFound
from carematch.policy.hearing_models import PolicyBudget
from carematch.policy.library import PolicyLibrary
from carematch.policy.population import (
    ELIGIBLE,
    POLICY_SERVICES,
    features_in,
    provider_services,
    register_eligibility,
    unit_prices,
)
from carematch.security import audit
from carematch.security.authz import Principal

SPEND_BASIS = "estimate: service records × unit price × benefit share (no payment ledger)"
MAX_BUDGET = Decimal("1000000000000")

SERVED_SQL = f"""
SELECT s.policy_id, r.person_id, r.service, count(*) AS n
FROM records_in r
JOIN {ELIGIBLE} e ON e.person_id = r.person_id
JOIN {POLICY_SERVICES} s ON s.policy_id = e.policy_id AND s.service = r.service
GROUP BY s.policy_id, r.person_id, r.service
"""


def _budgets(session: Session, year: int) -> dict[str, Decimal]:
    rows = session.execute(
        select(PolicyBudget.policy_id, PolicyBudget.amount).where(PolicyBudget.year == year)
    )
    return {pid: Decimal(amount) for pid, amount in rows}


def set_budget(
    session: Session,
    principal: Principal,
    policy_id: str,
    year: int,
    amount: Any,
    *,
    library: PolicyLibrary | None = None,
) -> PolicyBudget:
    """Set (or change) a policy's budget for a year, in yuan (audited).

    Raises:
        PolicyNotFound: no such policy in the library in force.
        InvalidInput: a year outside 2000..2100 or an amount that is not a non-negative sum.
    """
    from carematch.core.clock import city_today
    from carematch.policy.service import library_on

    known = library if library is not None else library_on(session, city_today())
    if policy_id not in known:
        raise PolicyNotFound(f"no policy {policy_id}")
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise InvalidInput("the year must lie between 2000 and 2100")
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"{amount!r} is not an amount of yuan") from None
    if not value.is_finite() or value < 0 or value >= MAX_BUDGET:
        raise InvalidInput("the budget must be a non-negative amount of yuan below 10^12")
    row = session.scalars(
        select(PolicyBudget).where(PolicyBudget.policy_id == policy_id, PolicyBudget.year == year)
    ).first()
    if row is None:
        row = PolicyBudget(id=new_id(), policy_id=policy_id, year=year, amount=value)
        session.add(row)
    row.amount, row.set_by = value, principal.username
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="policy_budget_set",
        entity="policy",
        entity_id=policy_id,
        detail={"year": year, "amount": str(value)},
    )
    return row


def _spend(
    benefit: dict[str, Any], per_service: list[tuple[str, int]], prices: dict[str, float]
) -> float:
    """One served person's estimated benefit paid (see the module's rules)."""
    kind = benefit.get("kind")
    if kind == "points":
        return 0.0
    if benefit.get("amount") is not None:
        value = float(benefit["amount"])
    else:
        share = float(benefit["rate"]) if benefit.get("rate") is not None else 1.0
        limit = benefit.get("quantity")
        left = int(limit) if limit is not None else None
        value = 0.0
        # Dearest first: when the quantity limits the count, the estimate stays an upper bound.
        for code, n in sorted(per_service, key=lambda item: -prices.get(item[0], 0.0)):
            used = n if left is None else min(n, left)
            value += used * prices.get(code, 0.0) * share
            if left is not None:
                left -= used
                if left <= 0:
                    break
    if benefit.get("cap") is not None:
        value = min(value, float(benefit["cap"]))
    return value


def execution_indicators(
    session: Session,
    period_start: date,
    period_end: date,
    region: str | None = None,
    *,
    library: PolicyLibrary | None = None,
) -> list[dict[str, Any]]:
    """Coverage, estimated spend against budget, and complaints per policy, for a period.

    Args:
        period_start, period_end: city days, both included.
        region: a region code (its communities and below); None for the whole city. The
            caller checks the jurisdiction.
        library: the policies to report (default: the library in force on ``period_end``).

    Returns:
        One dict per policy, in library order: ``policy``, ``title``, ``department``,
        ``services``, ``eligible``, ``served``, ``coverage``, ``records``, ``spend``,
        ``spend_basis``, ``budget``, ``budget_used``, ``complaints`` (see the module).

    Raises:
        InvalidInput: the period ends before it starts.
    """
    from carematch.booking.indicators import served_rows
    from carematch.feedback.service import complaint_subjects
    from carematch.policy.service import library_on

    if period_end < period_start:
        raise InvalidInput("the period ends before it starts")
    library = library if library is not None else library_on(session, period_end)
    start, end = city_days_utc(period_start, period_end)
    features = features_in(session, period_end, region)
    records = served_rows(session, start, end, region)
    records_table = pa.table(
        {
            "person_id": pa.array([r[0] for r in records], pa.string()),
            "service": pa.array([r[1] for r in records], pa.string()),
        }
    )
    with duckdb.connect() as con:
        register_eligibility(con, features, library, period_end)
        con.register("records_in", records_table)
        eligible = dict(
            con.execute(f"SELECT policy_id, count(*) FROM {ELIGIBLE} GROUP BY policy_id").fetchall()
        )
        served = con.execute(SERVED_SQL).fetchall()
    by_person: dict[str, dict[str, list[tuple[str, int]]]] = defaultdict(lambda: defaultdict(list))
    for policy_id, person_id, service, n in served:
        by_person[policy_id][person_id].append((service, int(n)))
    prices, _ = unit_prices(session)
    offers = provider_services(session)
    subjects = complaint_subjects(session, start, end, region)
    budgets = _budgets(session, period_end.year)
    out = []
    for pid, policy in library.items():
        services = set(policy.services)
        persons = by_person.get(pid, {})
        benefit = policy.benefit.as_dict()
        spend = round(sum(_spend(benefit, rows, prices) for rows in persons.values()), 2)
        n_eligible = int(eligible.get(pid, 0))
        budget = budgets.get(pid)
        complaints = sum(
            1
            for service, provider in subjects
            if (service in services)
            or (service is None and provider is not None and offers.get(provider, set()) & services)
        )
        out.append(
            {
                "policy": pid,
                "title": policy.title,
                "department": policy.department,
                "services": list(policy.services),
                "eligible": n_eligible,
                "served": len(persons),
                "coverage": (len(persons) / n_eligible) if n_eligible else None,
                "records": sum(n for rows in persons.values() for _, n in rows),
                "spend": spend,
                "spend_basis": SPEND_BASIS,
                "budget": float(budget) if budget is not None else None,
                "budget_used": (spend / float(budget)) if budget else None,
                "complaints": complaints,
            }
        )
    return out
