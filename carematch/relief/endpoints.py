"""The relief API under /api/v1/relief; every route declares its authorisation.

Civil-affairs staff and officials (and admin) work the watch: they read the households at risk
and the cases of their jurisdiction (the household's region and below; a case elsewhere is a
404), take a case through verify → approve → pay (or reject, with a reason), recompute the
watch and put money into the relief fund. A step out of order is a 409 problem, and so is a
payment the fund's balance cannot cover.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.relief import service
from carematch.relief.schemas import (
    Action,
    CasePublic,
    CasesPublic,
    CaseStatus,
    DepositRequest,
    FundEntryPublic,
    FundPublic,
    HouseholdsPublic,
    StepRequest,
    TownshipPublic,
    WatchPublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/relief", tags=["relief"])

RELIEF_STAFF = ("civil_affairs", "official")
Staff = Annotated[Principal, Depends(require(*RELIEF_STAFF))]

Responses = dict[int | str, dict[str, Any]]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_FOUND: Responses = {404: {"description": "not visible to the caller", **_PROBLEM}}
CONFLICT: Responses = {
    409: {"description": "not allowed from the current status, or the fund is short", **_PROBLEM}
}
INVALID: Responses = {400: {"description": "invalid input", **_PROBLEM}}


@router.get("/cases", response_model=CasesPublic)
def list_cases(
    session: SessionDep,
    principal: Staff,
    status: Annotated[CaseStatus | None, Query()] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Relief cases of the caller's jurisdiction, newest first (the read is audited)."""
    total, views = service.list_cases(session, principal, status, limit, offset)
    return {"total": total, "items": [v.as_dict() for v in views]}


@router.get("/cases/{case_id}", response_model=CasePublic, responses=NOT_FOUND)
def read_case(case_id: str, session: SessionDep, principal: Staff) -> dict[str, Any]:
    """One case with its figures, the stacking steps and who did each step when."""
    return service.read_case(session, principal, case_id).as_dict()


@router.post(
    "/cases/{case_id}/{action}",
    response_model=CasePublic,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def take_step(
    case_id: str,
    action: Action,
    body: StepRequest,
    session: SessionDep,
    principal: Staff,
) -> dict[str, Any]:
    """Verify, approve, pay (from the fund) or reject (with the reason as ``note``) a case."""
    return service.take_step(session, principal, case_id, action, body.note).as_dict()


@router.get("/households", response_model=HouseholdsPublic)
def households_at_risk(session: SessionDep, principal: Staff) -> dict[str, Any]:
    """Households at risk in the caller's jurisdiction, with their figures (audited)."""
    return {"items": service.households_at_risk(session, principal)}


@router.get("/townships", response_model=list[TownshipPublic])
def townships(session: SessionDep, principal: Staff) -> list[Any]:
    """Households watched and at risk per township of the caller's jurisdiction."""
    return [r.__dict__ for r in service.risk_by_township(session, principal)]


@router.post("/watch", response_model=WatchPublic)
def recompute(session: SessionDep, principal: Staff) -> dict[str, Any]:
    """Recompute every household's 12-month out-of-pocket now (as after an ingest)."""
    return service.recompute(session).as_dict()


@router.get("/fund", response_model=FundPublic)
def read_fund(
    session: SessionDep, principal: Staff, limit: Limit = 20, offset: Offset = 0
) -> dict[str, Any]:
    """The relief fund's balance and its ledger, latest first."""
    view = service.fund(session, limit, offset)
    return {
        "balance": float(view.balance),
        "total": view.total,
        "items": service.entries_of(view.entries),
    }


@router.post("/fund/deposits", response_model=FundEntryPublic, status_code=201, responses=INVALID)
def deposit(body: DepositRequest, session: SessionDep, principal: Staff) -> dict[str, Any]:
    """Put money into the relief fund (a budget allocation, a donation)."""
    entry = service.deposit(session, principal.username, body.amount, body.note)
    return service.entries_of([entry])[0]
