"""Policy governance under /api/v1: hearings, proposals, the sandbox, execution and budgets.

Every route declares its authorisation. Hearings' drafts and results are public (R-PL-4:
results are published); the rest is for officials, scoped to their jurisdiction.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.core.errors import InvalidInput
from carematch.policy import execution, hearings, proposals, sandbox, sandbox_service
from carematch.policy.governance_schemas import (
    BudgetPublic,
    BudgetSet,
    HearingCreate,
    HearingPublic,
    HearingResultPublic,
    HearingsPublic,
    OpinionCreate,
    OpinionDecision,
    OpinionPublic,
    OpinionStaff,
    ProposalPublic,
    ProposalsPublic,
    SandboxRequest,
)
from carematch.policy.hearing_models import HearingOpinion, PolicyHearing
from carematch.security.authz import Principal, public, require
from carematch.security.jurisdiction import within

router = APIRouter(tags=["policy governance"])

Official = Annotated[Principal, Depends(require("official"))]
OpinionGiver = Annotated[Principal, Depends(require("resident", "official", "grid_worker"))]
StaffReader = Annotated[Principal, Depends(require("official", "grid_worker"))]


def hearing_public(session: Session, hearing: PolicyHearing) -> HearingPublic:
    """A hearing with its draft and counts."""
    return HearingPublic(
        id=hearing.id,
        policy_id=hearing.policy_id,
        title=hearing.title,
        summary=hearing.summary,
        region_code=hearing.region_code,
        opens_on=hearing.opens_on,
        closes_on=hearing.closes_on,
        status=hearing.status,
        opened_by=hearing.opened_by,
        closed_at=hearing.closed_at,
        draft=hearings.draft_of(hearing),
        counts=hearings.result_counts(session, hearing.id),
    )


def _staff_opinion(o: HearingOpinion) -> OpinionStaff:
    return OpinionStaff(
        id=o.id,
        seq=o.seq,
        channel=o.channel,
        text=o.text,
        decision=o.decision,
        reason=o.reason,
        submitted_by=o.submitted_by,
        submitted_at=o.submitted_at,
        decided_by=o.decided_by,
        decided_at=o.decided_at,
    )


def area(principal: Principal, region: str | None) -> str | None:
    """The area asked for, which must lie inside the caller's jurisdiction (default: all of it)."""
    code = (region or "").strip() or principal.jurisdiction
    if code is not None and (not code.isdigit() or len(code) > 12):
        raise InvalidInput(f"{code!r} is not a region code")
    if principal.jurisdiction is not None and not within(code, principal.jurisdiction):
        raise InvalidInput("the region must lie inside your jurisdiction")
    return code


@router.get("/hearings", response_model=HearingsPublic, dependencies=[Depends(public())])
def list_hearings(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    status: Annotated[Literal["open", "closed"] | None, Query()] = None,
) -> HearingsPublic:
    """Every hearing, newest first (public: drafts and results are published)."""
    rows = hearings.list_hearings(session, status=status)
    page = rows[offset : offset + limit]
    return HearingsPublic(items=[hearing_public(session, h) for h in page], total=len(rows))


@router.post("/hearings", response_model=HearingPublic, status_code=201)
def open_hearing(session: SessionDep, principal: Official, body: HearingCreate) -> HearingPublic:
    """Open a hearing on a draft policy (checked like a library entry); audited."""
    hearing = hearings.open_hearing(
        session,
        principal,
        body.definition,
        body.closes_on,
        summary=body.summary,
        opens_on=body.opens_on,
        region=body.region,
    )
    return hearing_public(session, hearing)


@router.get(
    "/hearings/{hearing_id}",
    response_model=HearingResultPublic,
    dependencies=[Depends(public())],
)
def hearing_result(session: SessionDep, hearing_id: str) -> HearingResultPublic:
    """A hearing's draft, counts and, once closed, every opinion without its author."""
    result = hearings.public_result(session, hearing_id)
    return HearingResultPublic(
        hearing=hearing_public(session, result.hearing),
        opinions=[OpinionPublic(**o.__dict__) for o in result.opinions],
    )


@router.post("/hearings/{hearing_id}/opinions", response_model=OpinionStaff, status_code=201)
def give_opinion(
    session: SessionDep, principal: OpinionGiver, hearing_id: str, body: OpinionCreate
) -> OpinionStaff:
    """A resident's own opinion, or one staff gathered offline (with its channel); audited."""
    opinion = hearings.submit_opinion(
        session, principal, hearing_id, body.text, channel=body.channel
    )
    return _staff_opinion(opinion)


@router.get("/hearings/{hearing_id}/opinions", response_model=list[OpinionStaff])
def list_opinions(
    session: SessionDep, principal: StaffReader, hearing_id: str
) -> list[OpinionStaff]:
    """Every opinion of a hearing in the jurisdiction, with who recorded it and the decision."""
    hearing = hearings.staff_hearing(session, principal, hearing_id)
    return [_staff_opinion(o) for o in hearings.opinions(session, hearing.id)]


@router.post("/hearings/{hearing_id}/opinions/{opinion_id}/decision", response_model=OpinionStaff)
def decide_opinion(
    session: SessionDep,
    principal: Official,
    hearing_id: str,
    opinion_id: str,
    body: OpinionDecision,
) -> OpinionStaff:
    """Adopted, or not adopted with its reason (refused without one); audited."""
    opinion = hearings.decide(
        session, principal, hearing_id, opinion_id, body.decision, body.reason
    )
    return _staff_opinion(opinion)


@router.post("/hearings/{hearing_id}/close", response_model=HearingPublic)
def close_hearing(session: SessionDep, principal: Official, hearing_id: str) -> HearingPublic:
    """Close the hearing and publish its result; every opinion must be answered; audited."""
    return hearing_public(session, hearings.close_hearing(session, principal, hearing_id))


@router.get("/policy-proposals", response_model=ProposalsPublic)
def list_proposals(
    session: SessionDep,
    principal: Official,
    limit: Limit = 50,
    offset: Offset = 0,
    region: Annotated[str | None, Query(max_length=12)] = None,
    min_count: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> ProposalsPublic:
    """Demand tags no eligible policy covers, per community, most persons first."""
    found = proposals.proposals(session, region=area(principal, region), min_count=min_count)
    page = found[offset : offset + limit]
    return ProposalsPublic(
        items=[ProposalPublic.model_validate(p.as_dict()) for p in page], total=len(found)
    )


@router.post("/policy-sandbox", response_model=None)
def run_sandbox(
    session: SessionDep,
    principal: Official,
    body: SandboxRequest,
    format: Annotated[Literal["json", "markdown", "csv"], Query()] = "json",
) -> Any:
    """A draft policy against a pilot area: eligible (new / already covered), estimated cost,
    compared with the policies in force; as JSON, or a Markdown or CSV report."""
    definition = body.definition
    if definition is None:
        definition = sandbox_service.parse_draft(body.text or "")
    report = sandbox_service.run_sandbox(
        session, principal, definition, body.region, as_of=body.as_of
    )
    if format == "markdown":
        return PlainTextResponse(sandbox.to_markdown(report), media_type="text/markdown")
    if format == "csv":
        return Response(
            sandbox.to_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="sandbox-{report.region}.csv"'},
        )
    return report.as_dict()


@router.put("/policies/{policy_id}/budgets/{year}", response_model=BudgetPublic)
def set_budget(
    session: SessionDep, principal: Official, policy_id: str, year: int, body: BudgetSet
) -> BudgetPublic:
    """Set a policy's budget for a year (yuan); audited."""
    if body.year != year:
        raise InvalidInput("the year in the path and in the body differ")
    row = execution.set_budget(session, principal, policy_id, year, body.amount)
    return BudgetPublic(
        policy_id=row.policy_id, year=row.year, amount=float(row.amount), set_by=row.set_by
    )


@router.get("/policy-execution")
def policy_execution(
    session: SessionDep,
    principal: Official,
    start: date,
    end: date,
    region: Annotated[str | None, Query(max_length=12)] = None,
) -> dict[str, Any]:
    """Coverage, estimated spend against budget and complaints per policy over a period."""
    if (end - start).days > 3660 or start.year < 1900 or end.year > 2100:
        raise InvalidInput("the period must lie within 1900..2100 and span at most ten years")
    code = area(principal, region)
    items = execution.execution_indicators(session, start, end, code)
    return {"start": start, "end": end, "region": code, "items": items}
