"""Use cases of the risk index, the budget proposal and the special funds (R-EV-2).

The risk index is computed from the features view (one DuckDB step over every person) and
the literacy survey; the budget proposal splits a total between the communities of the
caller's area by :mod:`carematch.indicators.budget`'s rule. Special-fund projects move through
``applied → under_review → approved | rejected → evaluated`` (see funds_models); each step is
audited, a step out of order is a 409. Services flush; the edge (endpoint, CLI) commits.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.indicators import funds_repository as repository
from carematch.indicators.budget import (
    DEFAULT_FLOOR,
    DEFAULT_RISK_SHARE,
    BudgetInput,
    BudgetInputError,
    BudgetLine,
    allocate_budget,
)
from carematch.indicators.funds_errors import (
    FundBudgetExceeded,
    FundBudgetNotFound,
    FundInputRejected,
    FundProjectNotFound,
    FundStateConflict,
    OutsideJurisdiction,
)
from carematch.indicators.funds_models import (
    APPLIED,
    APPROVED,
    EVALUATED,
    REJECTED,
    UNDER_REVIEW,
    SpecialFundBudget,
    SpecialFundIndicator,
    SpecialFundProject,
    SpecialFundReview,
)
from carematch.indicators.risk_index import (
    COMPONENTS_SQL,
    WEIGHTS,
    CommunityCounts,
    RiskScore,
    risk_index,
)
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix, within

# Review criteria (评审维度), each scored 0-100 by every expert; an expert's score is the mean
# over the criteria and the project's score the mean over its experts.
CRITERIA: dict[str, str] = {
    "need": "需求迫切性 (how pressing the need is)",
    "feasibility": "可行性 (can the community deliver it)",
    "benefit": "预期效益 (expected health benefit)",
    "cost": "预算合理性 (is the budget reasonable)",
}
MIN_REVIEWS = 2
PASS_MARK = 60.0
OUTCOME_ACHIEVED = "achieved"
OUTCOME_PARTLY = "partly"
OUTCOME_NOT_ACHIEVED = "not_achieved"


# -- risk index and budget -------------------------------------------------------------------


def _literacy(session: Session) -> pa.Table:
    """Surveyed persons and whether any survey found basic health literacy (健康素养)."""
    from carematch.identity.service import persons_with_attribute

    # The survey stores literacy as a JSON boolean; the lookup compares values as stored.
    yes: Any = {True}
    either: Any = {True, False}
    literate = persons_with_attribute(session, "survey", "health_literacy", yes)
    surveyed = persons_with_attribute(session, "survey", "health_literacy", either)
    people = sorted(surveyed)
    return pa.table(
        {
            "person_id": pa.array(people, pa.string()),
            "health_literacy": pa.array([p in literate for p in people], pa.bool_()),
        }
    )


def community_counts(session: Session, as_of: date | None = None) -> list[CommunityCounts]:
    """The counts the risk index starts from, for every community of the city."""
    import duckdb

    from carematch.profiling.service import features_for

    features = features_for(session, as_of=as_of or city_today())
    con = duckdb.connect()
    try:
        con.register("features", features)
        con.register("literacy", _literacy(session))
        rows = con.sql(COMPONENTS_SQL).fetchall()
        names = [d[0] for d in con.sql(COMPONENTS_SQL).description]
    finally:
        con.close()
    return [CommunityCounts(**dict(zip(names, row, strict=True))) for row in rows]


@dataclass
class RiskTable:
    """The index of the communities in an area (computed over the whole city)."""

    as_of: date
    weights: dict[str, float]
    scores: list[RiskScore]
    names: dict[str, str]


def _names(session: Session, codes: Sequence[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = session.execute(select(Region.code, Region.name).where(Region.code.in_(list(codes))))
    return {code: name for code, name in rows}


def _area(principal: Principal, region: str | None) -> str | None:
    """The region to show: the caller's jurisdiction, or a region inside it."""
    if region is None:
        return principal.jurisdiction
    if not principal.can_see(region):
        raise OutsideJurisdiction(f"region {region} is outside your jurisdiction")
    return region


def risk_table(
    session: Session, principal: Principal, region: str | None = None, as_of: date | None = None
) -> RiskTable:
    """Every community's risk index (compared across the city), those of the area shown."""
    area = _area(principal, region)
    day = as_of or city_today()
    scores = [s for s in risk_index(community_counts(session, day)) if within(s.community, area)]
    return RiskTable(day, dict(WEIGHTS), scores, _names(session, [s.community for s in scores]))


# The results part follows this indicator's gain (percentage points) over the last stored month.
RESULTS_INDICATOR = "chronic_control_rate"


@dataclass(frozen=True)
class ResultsSource:
    """Where the results scores came from: given by the caller, the stored series, or none."""

    kind: str
    indicator: str | None = None
    periods: tuple[str, str] | None = None


def _previous_month(label: str) -> str:
    year, month = (int(part) for part in label.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def stored_results(
    session: Session, area: str | None, communities: Sequence[str]
) -> tuple[dict[str, float], ResultsSource]:
    """Each community's gain in the control rate between the last two stored months.

    Read from the indicator series (``indicator_values``, refreshed after every ingest): the
    latest month's value minus the month before's, in percentage points, for communities with
    both. Without two months of values there are no results scores (the part then follows
    population, see :mod:`carematch.indicators.budget`).
    """
    from carematch.indicators import repository as indicator_values

    latest = indicator_values.latest_period(session)
    if latest is None:
        return {}, ResultsSource("none")
    previous = _previous_month(latest)
    points = indicator_values.values(
        session,
        periods=(previous, latest),
        indicator_id=RESULTS_INDICATOR,
        within=area,
        disaggregation="total",
        group_key="",
    )
    wanted = set(communities)
    by_period: dict[str, dict[str, float]] = {previous: {}, latest: {}}
    for point in points:
        if point.region_code in wanted and point.value is not None:
            by_period[point.period][point.region_code] = point.value
    gains = {
        code: round(100 * (value - by_period[previous][code]), 4)
        for code, value in by_period[latest].items()
        if code in by_period[previous]
    }
    if not gains:
        return {}, ResultsSource("none")
    return gains, ResultsSource("stored", RESULTS_INDICATOR, (previous, latest))


def budget_proposal(
    session: Session,
    principal: Principal,
    total: int,
    *,
    risk_share: float = DEFAULT_RISK_SHARE,
    floor: float = DEFAULT_FLOOR,
    results: Mapping[str, float] | None = None,
    region: str | None = None,
    as_of: date | None = None,
) -> tuple[RiskTable, list[BudgetLine], ResultsSource]:
    """Split ``total`` yuan between the communities of the area (audited as a proposal).

    ``results`` gives each community's results score; when it is None the scores come from
    the stored control-rate series (:func:`stored_results`); an empty mapping means none.
    """
    table = risk_table(session, principal, region, as_of)
    codes = [s.community for s in table.scores]
    if results is None:
        scores, source = stored_results(session, _area(principal, region), codes)
    else:
        scores, source = dict(results), ResultsSource("given" if results else "none")
    unknown = sorted(set(scores) - set(codes))
    if unknown:
        raise FundInputRejected(f"results for communities not in the area: {', '.join(unknown)}")
    if any(not math.isfinite(v) for v in scores.values()):
        raise FundInputRejected("results scores must be finite numbers")
    inputs = [
        BudgetInput(s.community, s.population, s.index, scores.get(s.community, 0.0))
        for s in sorted(table.scores, key=lambda s: s.community)
    ]
    try:
        lines = allocate_budget(total, inputs, risk_share=risk_share, floor=floor)
    except BudgetInputError as bad:
        raise FundInputRejected(str(bad)) from None
    audit.record(
        session,
        actor=principal.username,
        action="budget_proposed",
        entity="budget_proposal",
        entity_id=region or principal.jurisdiction or "all",
        detail={
            "total": total,
            "risk_share": risk_share,
            "communities": len(lines),
            "results": source.kind,
        },
    )
    return table, lines, source


# -- special funds ---------------------------------------------------------------------------


def _record(
    session: Session, principal: Principal, action: str, project: str, **detail: Any
) -> None:
    audit.record(
        session,
        actor=principal.username,
        action=action,
        entity="special_fund_project",
        entity_id=project,
        detail=detail,
    )


def create_budget(
    session: Session, principal: Principal, *, name: str, region_code: str, year: int, total: int
) -> SpecialFundBudget:
    """A fund's budget for a region inside the caller's jurisdiction."""
    if not principal.can_see(region_code):
        raise OutsideJurisdiction(f"region {region_code} is outside your jurisdiction")
    if total <= 0:
        raise FundInputRejected("a budget must be above 0 yuan")
    if not name.strip():
        raise FundInputRejected("a budget needs a name")
    budget = SpecialFundBudget(
        id=new_id(),
        name=name.strip(),
        region_code=region_code,
        year=year,
        total=total,
        created_by=principal.username,
    )
    session.add(budget)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="fund_budget_created",
        entity="special_fund_budget",
        entity_id=budget.id,
        detail={"region": region_code, "year": year, "total": total},
    )
    return budget


def _budget_visible(principal: Principal, budget: SpecialFundBudget) -> bool:
    """Officials see budgets of their area and of the regions above it (they apply to them)."""
    area = principal.jurisdiction
    if area is None:
        return True
    return within(budget.region_code, area) or area.startswith(region_prefix(budget.region_code))


def get_budget(session: Session, principal: Principal, budget_id: str) -> SpecialFundBudget:
    budget = session.get(SpecialFundBudget, budget_id)
    if budget is None or not _budget_visible(principal, budget):
        raise FundBudgetNotFound(f"no special-fund budget {budget_id}")
    return budget


def list_budgets(session: Session, principal: Principal) -> list[tuple[SpecialFundBudget, int]]:
    """Budgets the caller can see, each with the yuan already committed."""
    return [
        (b, repository.committed(session, b.id))
        for b in repository.budgets(session)
        if _budget_visible(principal, b)
    ]


@dataclass(frozen=True)
class IndicatorPlan:
    """One of a project's own indicators as applied for."""

    name: str
    baseline: float
    target: float
    direction: str = "up"
    unit: str = ""


def apply(
    session: Session,
    principal: Principal,
    *,
    budget_id: str,
    community_code: str,
    title: str,
    amount: int,
    indicators: Sequence[IndicatorPlan],
    description: str = "",
) -> SpecialFundProject:
    """A community's application: amount, and its own indicators with baseline and target."""
    budget = get_budget(session, principal, budget_id)
    if not principal.can_see(community_code):
        raise OutsideJurisdiction(f"community {community_code} is outside your jurisdiction")
    if not within(community_code, budget.region_code):
        raise FundInputRejected(
            f"community {community_code} is not in the budget's region {budget.region_code}"
        )
    if not title.strip():
        raise FundInputRejected("a project needs a title")
    if amount <= 0:
        raise FundInputRejected("the amount must be above 0 yuan")
    if amount > budget.total:
        raise FundInputRejected(f"the amount exceeds the whole budget ({budget.total} yuan)")
    if not indicators:
        raise FundInputRejected("a project needs at least one indicator of its own")
    names = [i.name.strip() for i in indicators]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise FundInputRejected("each indicator needs a name, and names must differ")
    for plan in indicators:
        if plan.direction not in ("up", "down"):
            raise FundInputRejected(f"{plan.name}: direction is 'up' or 'down'")
        if not (math.isfinite(plan.baseline) and math.isfinite(plan.target)):
            raise FundInputRejected(f"{plan.name}: baseline and target must be numbers")
        better = (
            plan.target > plan.baseline if plan.direction == "up" else plan.target < plan.baseline
        )
        if not better:
            raise FundInputRejected(
                f"{plan.name}: the target must be {'above' if plan.direction == 'up' else 'below'}"
                " the baseline"
            )
    project = SpecialFundProject(
        id=new_id(),
        budget_id=budget.id,
        community_code=community_code,
        title=title.strip(),
        description=description,
        amount=amount,
        status=APPLIED,
        applied_by=principal.username,
    )
    session.add(project)
    session.flush()
    for position, plan in enumerate(indicators):
        session.add(
            SpecialFundIndicator(
                id=new_id(),
                project_id=project.id,
                position=position,
                name=plan.name.strip(),
                unit=plan.unit,
                direction=plan.direction,
                baseline=plan.baseline,
                target=plan.target,
            )
        )
    session.flush()
    _record(session, principal, "fund_project_applied", project.id, amount=amount)
    return project


def get_project(session: Session, principal: Principal, project_id: str) -> SpecialFundProject:
    project = session.get(SpecialFundProject, project_id)
    if project is None or not principal.can_see(project.community_code):
        raise FundProjectNotFound(f"no special-fund project {project_id}")
    return project


def list_projects(
    session: Session,
    principal: Principal,
    *,
    budget_id: str | None = None,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Sequence[SpecialFundProject]:
    return repository.projects(
        session,
        principal.jurisdiction,
        budget_id=budget_id,
        status=status,
        limit=limit,
        offset=offset,
    )


def review(
    session: Session,
    principal: Principal,
    project_id: str,
    scores: Mapping[str, float],
    comment: str = "",
) -> SpecialFundReview:
    """One expert's scores (0-100 for every criterion); one review per expert and project."""
    project = get_project(session, principal, project_id)
    if project.status not in (APPLIED, UNDER_REVIEW):
        raise FundStateConflict(f"project {project.id} is {project.status}: reviews are closed")
    if principal.username == project.applied_by:
        raise FundStateConflict("the applicant may not review their own project")
    missing = sorted(set(CRITERIA) - set(scores))
    extra = sorted(set(scores) - set(CRITERIA))
    if missing or extra:
        raise FundInputRejected(
            f"score every criterion ({', '.join(CRITERIA)}); "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}")
        )
    if any(not (math.isfinite(v) and 0 <= v <= 100) for v in scores.values()):
        raise FundInputRejected("each score lies between 0 and 100")
    if any(r.expert == principal.username for r in repository.reviews(session, project.id)):
        raise FundStateConflict(f"{principal.username} has already reviewed project {project.id}")
    score = sum(scores[c] for c in CRITERIA) / len(CRITERIA)
    entry = SpecialFundReview(
        id=new_id(),
        project_id=project.id,
        expert=principal.username,
        scores=json.dumps({c: scores[c] for c in CRITERIA}),
        score=score,
        comment=comment,
    )
    session.add(entry)
    project.status = UNDER_REVIEW
    session.flush()
    _record(session, principal, "fund_project_reviewed", project.id, score=round(score, 2))
    return entry


def decide(
    session: Session, principal: Principal, project_id: str, note: str = ""
) -> SpecialFundProject:
    """The mean of the experts' scores decides: ≥ 60 approves (within the budget), else rejects.

    Approval beyond what is left of the budget is refused (409) and the project stays under
    review, so that a later, larger budget or a withdrawn project can still make room.
    """
    project = get_project(session, principal, project_id)
    if project.status != UNDER_REVIEW:
        raise FundStateConflict(
            f"project {project.id} is {project.status}: only a project under review is decided"
        )
    reviews = repository.reviews(session, project.id)
    if len(reviews) < MIN_REVIEWS:
        raise FundStateConflict(
            f"project {project.id} has {len(reviews)} review(s); {MIN_REVIEWS} are needed"
        )
    mean = sum(r.score for r in reviews) / len(reviews)
    project.score = round(mean, 4)
    if mean >= PASS_MARK:
        # Lock the budget row (PostgreSQL) so two approvals at once cannot both spend the rest.
        budget = session.get(SpecialFundBudget, project.budget_id, with_for_update=True)
        assert budget is not None
        left = budget.total - repository.committed(session, budget.id)
        if project.amount > left:
            raise FundBudgetExceeded(
                f"project {project.id} asks {project.amount} yuan; "
                f"{left} are left of {budget.total}",
                left=left,
            )
        project.status = APPROVED
    else:
        project.status = REJECTED
    project.decided_by = principal.username
    project.decided_at = utcnow()
    project.decision_note = note or None
    session.flush()
    _record(
        session,
        principal,
        "fund_project_decided",
        project.id,
        status=project.status,
        score=project.score,
    )
    return project


def evaluate(
    session: Session, principal: Principal, project_id: str, values: Mapping[str, float]
) -> SpecialFundProject:
    """The end-of-project evaluation against the project's own indicators.

    An indicator is achieved when the value reached is at or beyond its target in its
    direction; the project is ``achieved`` when all are, ``partly`` when some are, and
    ``not_achieved`` when none is.
    """
    project = get_project(session, principal, project_id)
    if project.status != APPROVED:
        raise FundStateConflict(
            f"project {project.id} is {project.status}: only an approved project is evaluated"
        )
    planned = repository.indicators(session, project.id)
    names = {i.name for i in planned}
    missing = sorted(names - set(values))
    extra = sorted(set(values) - names)
    if missing or extra:
        raise FundInputRejected(
            "give a value for each of the project's indicators; "
            + (f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}")
        )
    if any(not math.isfinite(v) for v in values.values()):
        raise FundInputRejected("values must be numbers")
    for indicator in planned:
        value = values[indicator.name]
        indicator.achieved_value = value
        indicator.achieved = (
            value >= indicator.target if indicator.direction == "up" else value <= indicator.target
        )
    reached = sum(bool(i.achieved) for i in planned)
    project.outcome = (
        OUTCOME_ACHIEVED
        if reached == len(planned)
        else OUTCOME_PARTLY
        if reached
        else OUTCOME_NOT_ACHIEVED
    )
    project.status = EVALUATED
    project.evaluated_by = principal.username
    project.evaluated_at = utcnow()
    session.flush()
    _record(
        session,
        principal,
        "fund_project_evaluated",
        project.id,
        outcome=project.outcome,
        achieved=reached,
        indicators=len(planned),
    )
    return project


def project_detail(
    session: Session, project: SpecialFundProject
) -> tuple[Sequence[SpecialFundIndicator], Sequence[SpecialFundReview]]:
    """A project's indicators and reviews."""
    return repository.indicators(session, project.id), repository.reviews(session, project.id)
