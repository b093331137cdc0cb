"""The health points and time bank API under /api/v1; every route declares its authorisation.

Residents read their own points (``/points/me``) and redeem them for themselves. Staff read a
person's points in their jurisdiction (``/persons/{id}/points``), credit activities
(``/points/earn``), redeem for a person, and record time-bank minutes
(``/timebank/volunteer``, ``/timebank/redeem``); officials correct an entry by reversing it.
A person outside the caller's reach is "not found". Posting the same ``source_ref`` again
returns the first entry with 200 (the first time: 201). An overdraft is a 409 problem.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.points import service
from carematch.points.ledger import Unit
from carematch.points.schemas import (
    EarnRequest,
    EntriesPublic,
    EntryPublic,
    Id,
    PostingPublic,
    RedeemRequest,
    ReverseRequest,
    RulesPublic,
    SourceRefIn,
    StatementPublic,
    TimebankRequest,
    UnitName,
)
from carematch.points.service import PostingResult
from carematch.security.authz import Principal, require
from carematch.security.models import ROLES, STAFF_ROLES

router = APIRouter(tags=["points"])

STAFF = tuple(sorted(STAFF_ROLES))
Anyone = Annotated[Principal, Depends(require(*ROLES))]
Resident = Annotated[Principal, Depends(require("resident"))]
Staff = Annotated[Principal, Depends(require(*STAFF))]
Redeemer = Annotated[Principal, Depends(require("resident", *STAFF))]
Official = Annotated[Principal, Depends(require("official"))]
UnitFilter = Annotated[UnitName | None, Query(description="points or minutes; both if left out")]

Responses = dict[int | str, dict[str, Any]]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
POSTED: Responses = {
    200: {
        "description": "this source_ref had already posted: the first entry",
        "model": PostingPublic,
    },
    400: {"description": "unknown activity, service or help kind; bad amount", **_PROBLEM},
    404: {"description": "the person is not visible to the caller", **_PROBLEM},
    409: {"description": "not enough points or minutes; source_ref used otherwise", **_PROBLEM},
}
NOT_FOUND: Responses = {404: {"description": "not visible to the caller", **_PROBLEM}}


def _source(ref: SourceRefIn | None) -> tuple[str, str] | None:
    return (ref.kind, ref.id) if ref is not None else None


def _posted(result: PostingResult, response: Response) -> PostingPublic:
    response.status_code = 201 if result.created else 200
    return PostingPublic.of(result)


def _page(
    session: SessionDep, person_id: str, unit: UnitName | None, limit: int, offset: int
) -> EntriesPublic:
    views, total = service.entries(
        session, person_id, unit=Unit(unit) if unit else None, limit=limit, offset=offset
    )
    return EntriesPublic(
        items=[EntryPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/points/rules", response_model=RulesPublic)
def points_rules(principal: Anyone) -> RulesPublic:
    """What earns points, what they redeem, and the time bank's help kinds (积分规则)."""
    return RulesPublic.of(service.point_rules())


@router.get("/points/me", response_model=StatementPublic, responses=NOT_FOUND)
def my_points(session: SessionDep, principal: Resident) -> StatementPublic:
    """The signed-in resident's balances and recent entries (我的积分与时间银行)."""
    return StatementPublic.of(service.my_statement(session, principal))


@router.get("/points/me/entries", response_model=EntriesPublic, responses=NOT_FOUND)
def my_entries(
    session: SessionDep,
    principal: Resident,
    limit: Limit = 50,
    offset: Offset = 0,
    unit: UnitFilter = None,
) -> EntriesPublic:
    """The signed-in resident's entries, newest first."""
    return _page(session, service.me(principal), unit, limit, offset)


@router.get("/persons/{person_id}/points", response_model=StatementPublic, responses=NOT_FOUND)
def person_points(session: SessionDep, principal: Staff, person_id: Id) -> StatementPublic:
    """A person's balances and recent entries (staff, within their jurisdiction; audited)."""
    return StatementPublic.of(service.person_statement(session, principal, person_id))


@router.get(
    "/persons/{person_id}/points/entries", response_model=EntriesPublic, responses=NOT_FOUND
)
def person_entries(
    session: SessionDep,
    principal: Staff,
    person_id: Id,
    limit: Limit = 50,
    offset: Offset = 0,
    unit: UnitFilter = None,
) -> EntriesPublic:
    """A person's entries, newest first (staff, within their jurisdiction)."""
    return _page(session, service.person_for(session, principal, person_id), unit, limit, offset)


@router.post("/points/earn", response_model=PostingPublic, status_code=201, responses=POSTED)
def earn_points(
    session: SessionDep, principal: Staff, body: EarnRequest, response: Response
) -> PostingPublic:
    """Credit a person for an activity of the earning rules, once per ``source_ref``."""
    person = service.person_for(session, principal, body.person_id)
    result = service.earn(
        session,
        person_id=person,
        activity=body.activity,
        source=(body.source_ref.kind, body.source_ref.id),
        actor=principal.username,
        memo=body.memo,
    )
    return _posted(result, response)


@router.post("/points/redeem", response_model=PostingPublic, status_code=201, responses=POSTED)
def redeem_points(
    session: SessionDep, principal: Redeemer, body: RedeemRequest, response: Response
) -> PostingPublic:
    """Spend points on a service at its catalogue price; 409 when the balance falls short."""
    person = service.person_for(session, principal, body.person_id)
    result = service.redeem(
        session,
        person_id=person,
        service_code=body.service,
        source=_source(body.source_ref),
        actor=principal.username,
        memo=body.memo,
    )
    return _posted(result, response)


@router.post(
    "/points/entries/{entry_id}/reverse",
    response_model=PostingPublic,
    status_code=201,
    responses=POSTED,
)
def reverse_entry(
    session: SessionDep,
    principal: Official,
    entry_id: Id,
    body: ReverseRequest,
    response: Response,
) -> PostingPublic:
    """Correct an entry by posting its reversal (once; asking again returns the reversal)."""
    return _posted(service.reverse_as(session, principal, entry_id, body.reason), response)


@router.post("/timebank/volunteer", response_model=PostingPublic, status_code=201, responses=POSTED)
def record_volunteering(
    session: SessionDep, principal: Staff, body: TimebankRequest, response: Response
) -> PostingPublic:
    """Credit a volunteer's time bank with the minutes of help they gave (时间银行存入)."""
    person = service.person_for(session, principal, body.person_id)
    result = service.record_volunteering(
        session,
        person_id=person,
        help_kind=body.help_kind,
        minutes=body.minutes,
        source=(body.source_ref.kind, body.source_ref.id),
        actor=principal.username,
        memo=body.memo,
    )
    return _posted(result, response)


@router.post("/timebank/redeem", response_model=PostingPublic, status_code=201, responses=POSTED)
def record_help_received(
    session: SessionDep, principal: Staff, body: TimebankRequest, response: Response
) -> PostingPublic:
    """Spend a person's time-bank minutes on help they received (时间银行支取)."""
    person = service.person_for(session, principal, body.person_id)
    result = service.record_help_received(
        session,
        person_id=person,
        help_kind=body.help_kind,
        minutes=body.minutes,
        source=(body.source_ref.kind, body.source_ref.id),
        actor=principal.username,
        memo=body.memo,
    )
    return _posted(result, response)
