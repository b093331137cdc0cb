"""The chronic-monitoring API under /api/v1/monitoring; every route declares its authorisation.

Readings are posted by clinic staff and by devices signed in as staff users (a device account
is a ``doctor`` or ``vaccinator`` user bound to its clinic's region). Doctors read and close
the follow-up tasks of their jurisdiction; officials read control rates, the risk list and TB
case-management rates of theirs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import StringConstraints

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.core.clock import city_today
from carematch.monitoring import service
from carematch.monitoring.risk import COMBINATIONS
from carematch.monitoring.schemas import (
    CommunityControlPublic,
    Id,
    ImportPublic,
    PersonControlPublic,
    ReadingCreate,
    RiskEntryPublic,
    TaskClose,
    TaskPublic,
    TasksPublic,
    TaskStatus,
    TbRatesPublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/monitoring", tags=["monitoring"])

# Who takes readings in: clinic staff, and devices signed in as staff.
READERS_IN = ("doctor", "vaccinator", "official")
Intake = Annotated[Principal, Depends(require(*READERS_IN))]
Doctor = Annotated[Principal, Depends(require("doctor", "official"))]
Official = Annotated[Principal, Depends(require("official"))]
Combination = Annotated[
    str,
    StringConstraints(pattern="^(" + "|".join(k.replace("+", "[+ ]") for k in COMBINATIONS) + ")$"),
]
RegionCode = Annotated[str, StringConstraints(pattern=r"^\d{6}(\d{3}){0,2}$")]

Responses = dict[int | str, dict[str, Any]]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_FOUND: Responses = {404: {"description": "not visible to the caller", **_PROBLEM}}
INVALID: Responses = {400: {"description": "invalid input", **_PROBLEM}}
CONFLICT: Responses = {409: {"description": "closed already", **_PROBLEM}}


@router.post(
    "/readings",
    response_model=ImportPublic,
    status_code=201,
    responses={**INVALID, **NOT_FOUND},
)
def post_reading(session: SessionDep, principal: Intake, body: ReadingCreate) -> ImportPublic:
    """Take one reading; an alert episode it completes tasks the responsible doctor.

    Posting the same reading again stores nothing (``duplicates: 1``).
    """
    summary = service.record_reading(
        session,
        principal,
        person_id=body.person_id,
        measured_at=body.measured_at,
        sbp=body.sbp,
        dbp=body.dbp,
        device_id=body.device_id,
    )
    return ImportPublic.of(summary)


@router.get("/tasks", response_model=TasksPublic)
def list_tasks(
    session: SessionDep,
    principal: Doctor,
    limit: Limit = 50,
    offset: Offset = 0,
    status: TaskStatus | None = "open",
    mine: bool = False,
) -> TasksPublic:
    """Follow-up tasks of the caller's jurisdiction (``mine``: assigned to the caller)."""
    total, views = service.list_tasks(
        session, principal, status=status, mine=mine, limit=limit, offset=offset
    )
    return TasksPublic(items=[TaskPublic.of(v) for v in views], total=total)


@router.post(
    "/tasks/{task_id}/close",
    response_model=TaskPublic,
    responses={**INVALID, **NOT_FOUND, **CONFLICT},
)
def close_task(session: SessionDep, principal: Doctor, task_id: Id, body: TaskClose) -> TaskPublic:
    """Close a task with a note of what was done."""
    return TaskPublic.of(service.close_task(session, principal, task_id, body.note))


@router.get(
    "/persons/{person_id}/control",
    response_model=PersonControlPublic,
    responses={**INVALID, **NOT_FOUND},
)
def person_control(
    session: SessionDep,
    principal: Doctor,
    person_id: Id,
    start: Annotated[date | None, Query(description="default: 89 days before end")] = None,
    end: Annotated[date | None, Query(description="default: the city's today")] = None,
) -> PersonControlPublic:
    """A person's share of readings and days in range over [start, end] (audited); the last
    90 days by default."""
    last = end or city_today()
    first = start or last - timedelta(days=89)
    return PersonControlPublic.of(
        service.person_control(session, principal, person_id, first, last)
    )


@router.get("/control", response_model=list[CommunityControlPublic], responses=INVALID)
def population_control(
    session: SessionDep,
    principal: Official,
    start: Annotated[date, Query()],
    end: Annotated[date, Query()],
) -> list[CommunityControlPublic]:
    """Controlled / managed hypertensives per community of the caller's jurisdiction."""
    rows = service.population_control(session, start, end, principal.jurisdiction)
    return [CommunityControlPublic.of(r) for r in rows]


@router.get(
    "/risk/top",
    response_model=list[RiskEntryPublic],
    responses={**INVALID, **NOT_FOUND},
)
def risk_top(
    session: SessionDep,
    principal: Doctor,
    combination: Combination = "hypertension+diabetes",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    region: RegionCode | None = None,
    include_known: bool = False,
) -> list[RiskEntryPublic]:
    """Persons of the caller's jurisdiction most likely to have the combination, with the
    features that raise each one's risk most (audited). 404 until a model is trained."""
    entries = service.top_risk(
        session,
        principal,
        combination.replace(" ", "+"),  # an unescaped + in a query string arrives as a space
        limit=limit,
        region=region,
        include_known=include_known,
    )
    return [RiskEntryPublic.of(e) for e in entries]


@router.get("/tb", response_model=list[TbRatesPublic], responses=INVALID)
def tb_rates(
    session: SessionDep,
    principal: Official,
    start: Annotated[date, Query()],
    end: Annotated[date, Query()],
    region: RegionCode | None = None,
) -> list[TbRatesPublic]:
    """TB case-management rates, migrants and locals, in the caller's jurisdiction."""
    rates = service.tb_case_management(session, principal, start=start, end=end, region=region)
    return [TbRatesPublic.of(r) for r in rates.values()]
