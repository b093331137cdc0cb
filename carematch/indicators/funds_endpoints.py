"""Risk index, budget proposal and special funds under /api/v1 (officials; jurisdiction-scoped).

- ``GET /indicators/risk-index`` — every community's risk index in the caller's area.
- ``POST /indicators/budget`` — a budget proposal: higher risk, larger share; part by results.
- ``/funds/budgets`` and ``/funds/projects…`` — the special-fund workflow: apply (officials and
  grid workers of the community), review (officials as experts, one review each), decide,
  evaluate; a step out of order answers 409 with the reason.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.orm import Session

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.indicators import funds_service as service
from carematch.indicators.funds_models import (
    PROJECT_STATES,
    SpecialFundBudget,
    SpecialFundProject,
)
from carematch.indicators.funds_schemas import (
    BudgetLinePublic,
    BudgetProposalPublic,
    BudgetRequest,
    DecisionCreate,
    EvaluationCreate,
    FundBudgetCreate,
    FundBudgetPublic,
    IndicatorPublic,
    ProjectCreate,
    ProjectPublic,
    ProjectsPublic,
    ProjectSummary,
    ResultsSourcePublic,
    ReviewCreate,
    ReviewPublic,
    RiskIndexPublic,
    RiskScorePublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(tags=["indicators"])

Official = Annotated[Principal, Depends(require("official"))]
Applicant = Annotated[Principal, Depends(require("official", "grid_worker"))]


class FundBudgetsPublic(BaseModel):
    items: list[FundBudgetPublic]


@router.get("/indicators/risk-index", response_model=RiskIndexPublic)
def risk_index(
    session: SessionDep,
    principal: Official,
    region: Annotated[str | None, Query(max_length=12)] = None,
    as_of: Annotated[date | None, Query(description="feature date (default today)")] = None,
) -> RiskIndexPublic:
    """Each community's health risk index (compared across the city), highest first."""
    table = service.risk_table(session, principal, region, as_of)
    return RiskIndexPublic(
        as_of=table.as_of,
        weights=table.weights,
        items=[
            RiskScorePublic(
                id=s.community,
                community=s.community,
                name=table.names.get(s.community),
                population=s.population,
                index=s.index,
                raw=s.raw,
                scaled=s.scaled,
                imputed=s.imputed,
            )
            for s in table.scores
        ],
    )


@router.post("/indicators/budget", response_model=BudgetProposalPublic)
def budget(session: SessionDep, principal: Official, body: BudgetRequest) -> BudgetProposalPublic:
    """A budget proposal for the communities of the area; the amounts add up to the total."""
    table, lines, source = service.budget_proposal(
        session,
        principal,
        body.total,
        risk_share=body.risk_share,
        floor=body.floor,
        results=body.results,
        region=body.region,
        as_of=body.as_of,
    )
    return BudgetProposalPublic(
        total=body.total,
        risk_share=body.risk_share,
        floor=body.floor,
        as_of=table.as_of,
        results_source=ResultsSourcePublic(
            kind=source.kind, indicator=source.indicator, periods=source.periods
        ),
        items=[
            BudgetLinePublic(
                id=line.community, name=table.names.get(line.community), **line.as_dict()
            )
            for line in lines
        ],
    )


def _budget_public(budget: SpecialFundBudget, committed: int) -> FundBudgetPublic:
    return FundBudgetPublic(
        id=budget.id,
        name=budget.name,
        region_code=budget.region_code,
        year=budget.year,
        total=budget.total,
        committed=committed,
        left=budget.total - committed,
    )


@router.post("/funds/budgets", response_model=FundBudgetPublic, status_code=201)
def create_budget(
    session: SessionDep, principal: Official, body: FundBudgetCreate
) -> FundBudgetPublic:
    """Open a special fund's budget for a region of your area."""
    created = service.create_budget(
        session,
        principal,
        name=body.name,
        region_code=body.region_code,
        year=body.year,
        total=body.total,
    )
    return _budget_public(created, 0)


@router.get("/funds/budgets", response_model=FundBudgetsPublic)
def list_budgets(session: SessionDep, principal: Applicant) -> FundBudgetsPublic:
    """Budgets of your area and above, with what is committed and left."""
    return FundBudgetsPublic(
        items=[_budget_public(b, c) for b, c in service.list_budgets(session, principal)]
    )


def _project_public(session: Session, project: SpecialFundProject) -> ProjectPublic:
    indicators, reviews = service.project_detail(session, project)
    return ProjectPublic(
        id=project.id,
        budget_id=project.budget_id,
        community_code=project.community_code,
        title=project.title,
        description=project.description,
        amount=project.amount,
        status=project.status,
        score=project.score,
        applied_by=project.applied_by,
        applied_at=project.applied_at,
        decided_by=project.decided_by,
        decision_note=project.decision_note,
        outcome=project.outcome,
        indicators=[
            IndicatorPublic(
                name=i.name,
                unit=i.unit,
                direction=i.direction,
                baseline=i.baseline,
                target=i.target,
                achieved_value=i.achieved_value,
                achieved=i.achieved,
            )
            for i in indicators
        ],
        reviews=[
            ReviewPublic(
                id=r.id,
                expert=r.expert,
                scores=json.loads(r.scores),
                score=r.score,
                comment=r.comment,
                submitted_at=r.submitted_at,
            )
            for r in reviews
        ],
    )


@router.post("/funds/projects", response_model=ProjectPublic, status_code=201)
def apply(session: SessionDep, principal: Applicant, body: ProjectCreate) -> ProjectPublic:
    """A community applies for a project with its own indicators (baseline and target)."""
    project = service.apply(
        session,
        principal,
        budget_id=body.budget_id,
        community_code=body.community_code,
        title=body.title,
        description=body.description,
        amount=body.amount,
        indicators=[service.IndicatorPlan(**i.model_dump()) for i in body.indicators],
    )
    return _project_public(session, project)


@router.get("/funds/projects", response_model=ProjectsPublic)
def list_projects(
    session: SessionDep,
    principal: Applicant,
    budget_id: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(PROJECT_STATES) + ")$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ProjectsPublic:
    """Projects of communities in your area, newest first."""
    rows = service.list_projects(
        session, principal, budget_id=budget_id, status=status, limit=limit, offset=offset
    )
    return ProjectsPublic(
        items=[
            ProjectSummary(
                id=p.id,
                budget_id=p.budget_id,
                community_code=p.community_code,
                title=p.title,
                amount=p.amount,
                status=p.status,
                score=p.score,
                outcome=p.outcome,
            )
            for p in rows
        ],
        limit=limit,
        offset=offset,
    )


@router.get("/funds/projects/{project_id}", response_model=ProjectPublic)
def get_project(session: SessionDep, principal: Applicant, project_id: str) -> ProjectPublic:
    """One project with its indicators and reviews."""
    return _project_public(session, service.get_project(session, principal, project_id))


@router.post("/funds/projects/{project_id}/reviews", response_model=ProjectPublic, status_code=201)
def review(
    session: SessionDep, principal: Official, project_id: str, body: ReviewCreate
) -> ProjectPublic:
    """An expert's scores, 0-100 for each criterion (need, feasibility, benefit, cost)."""
    service.review(session, principal, project_id, body.scores, body.comment)
    return _project_public(session, service.get_project(session, principal, project_id))


@router.post("/funds/projects/{project_id}/decision", response_model=ProjectPublic)
def decide(
    session: SessionDep, principal: Official, project_id: str, body: DecisionCreate
) -> ProjectPublic:
    """Approve (mean ≥ 60 and within the budget) or reject (mean < 60) a reviewed project."""
    return _project_public(session, service.decide(session, principal, project_id, body.note))


@router.post("/funds/projects/{project_id}/evaluation", response_model=ProjectPublic)
def evaluate(
    session: SessionDep, principal: Official, project_id: str, body: EvaluationCreate
) -> ProjectPublic:
    """The performance evaluation against the project's own indicators."""
    return _project_public(session, service.evaluate(session, principal, project_id, body.values))
