"""The family-doctor API under /api/v1; every route declares its authorisation (security.authz).

``/family-doctor/packages`` (the free basic and the paid personalised packages),
``/family-doctor/teams``, ``/family-doctor/contracts`` (sign, renew, terminate),
``/family-doctor/tasks`` (follow-ups due; record one; run the schedule) and ``/referrals``
(two-way referral, seen by both ends). List endpoints take ``limit`` and ``offset`` and return
items carrying ``id``. Errors are problem+json: 404 for what the caller may not see, 409 for a
change the current state does not allow, 400 for what the rules refuse as given.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.familydoctor import service
from carematch.familydoctor.schemas import (
    ContractCreate,
    ContractPublic,
    ContractRenew,
    ContractsPublic,
    ContractStatus,
    ContractTerminate,
    Direction,
    FollowUpDonePublic,
    FollowUpRecord,
    MemberCreate,
    PackagePublic,
    PackagesPublic,
    ReferralCreate,
    ReferralMove,
    ReferralPublic,
    ReferralsPublic,
    ReferralStatus,
    RefreshPublic,
    TaskPublic,
    TasksPublic,
    TaskStatus,
    TeamCreate,
    TeamPublic,
    TeamsPublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(tags=["family doctor"])

# Officials run the programme (teams); doctors and officials sign, follow up and refer;
# residents read their own records, and sign, renew or end their own contract.
Official = Annotated[Principal, Depends(require("official"))]
Staff = Annotated[Principal, Depends(require("official", "doctor"))]
Participant = Annotated[Principal, Depends(require("official", "doctor", "resident"))]
Anyone = Annotated[
    Principal,
    Depends(
        require("official", "doctor", "vaccinator", "grid_worker", "civil_affairs", "resident")
    ),
]

# Filters are checked for shape here, so that no control character reaches the database.
IdQuery = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
CodeQuery = Annotated[str | None, Query(pattern=r"^[a-z0-9_]{1,32}$")]

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "not visible to the caller", **_PROBLEM}
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "conflicts with the current state", **_PROBLEM}
}
INVALID: dict[int | str, dict[str, Any]] = {
    400: {"description": "refused by the rules as given", **_PROBLEM}
}

FD = "/family-doctor"


# --- packages -------------------------------------------------------------------------------


@router.get(f"{FD}/packages", response_model=PackagesPublic)
def list_packages(principal: Anyone, limit: Limit = 50, offset: Offset = 0) -> PackagesPublic:
    """The service packages: the free basic public-health package, then the paid ones."""
    packages = service.list_packages()
    return PackagesPublic(
        items=[PackagePublic.of(p) for p in packages[offset : offset + limit]],
        total=len(packages),
        limit=limit,
        offset=offset,
    )


@router.get(f"{FD}/packages/{{code}}", response_model=PackagePublic, responses=NOT_FOUND)
def get_package(principal: Anyone, code: str) -> PackagePublic:
    """One package: price, services and follow-up frequencies."""
    return PackagePublic.of(service.get_package(code))


# --- teams ----------------------------------------------------------------------------------


@router.post(
    f"{FD}/teams",
    response_model=TeamPublic,
    status_code=201,
    responses={**NOT_FOUND, **INVALID},
)
def create_team(
    session: SessionDep, principal: Official, body: TeamCreate, response: Response
) -> TeamPublic:
    """Make a team at a primary-care provider of the caller's jurisdiction."""
    view = service.create_team(
        session,
        principal,
        name=body.name,
        provider_id=body.provider_id,
        lead_user_id=body.lead_user_id,
        area_code=body.area_code,
    )
    response.headers["Location"] = f"/api/v1{FD}/teams/{view.team.id}"
    return TeamPublic.of(view)


@router.get(f"{FD}/teams", response_model=TeamsPublic)
def list_teams(
    session: SessionDep,
    principal: Participant,
    limit: Limit = 50,
    offset: Offset = 0,
    provider_id: IdQuery = None,
) -> TeamsPublic:
    """Teams: staff those of their jurisdiction; a resident those they may sign with."""
    total, views = service.list_teams(
        session, principal, limit=limit, offset=offset, provider_id=provider_id
    )
    return TeamsPublic(
        items=[TeamPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get(f"{FD}/teams/{{team_id}}", response_model=TeamPublic, responses=NOT_FOUND)
def get_team(session: SessionDep, principal: Participant, team_id: str) -> TeamPublic:
    """One team with its members."""
    return TeamPublic.of(service.visible_team(session, principal, team_id))


@router.post(
    f"{FD}/teams/{{team_id}}/members",
    response_model=TeamPublic,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def add_member(
    session: SessionDep, principal: Official, team_id: str, body: MemberCreate
) -> TeamPublic:
    """Add a member (nurse, public-health doctor, pharmacist …) to a team."""
    view = service.add_member(
        session, principal, team_id, user_id=body.user_id, team_role=body.team_role
    )
    return TeamPublic.of(view)


@router.delete(
    f"{FD}/teams/{{team_id}}/members/{{user_id}}",
    response_model=TeamPublic,
    responses={**NOT_FOUND, **CONFLICT},
)
def remove_member(
    session: SessionDep, principal: Official, team_id: str, user_id: str
) -> TeamPublic:
    """Remove a member (not the lead)."""
    return TeamPublic.of(service.remove_member(session, principal, team_id, user_id))


# --- contracts ------------------------------------------------------------------------------


@router.post(
    f"{FD}/contracts",
    response_model=ContractPublic,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def sign(
    session: SessionDep, principal: Participant, body: ContractCreate, response: Response
) -> ContractPublic:
    """Sign a person with a team under a package for a year (a resident: themselves).

    409 when the person holds a contract already or the package is not for them."""
    contract = service.sign(
        session,
        principal,
        person_id=body.person_id,
        team_id=body.team_id,
        package_code=body.package,
        starts_on=body.starts_on,
    )
    response.headers["Location"] = f"/api/v1{FD}/contracts/{contract.id}"
    return ContractPublic.of(contract)


@router.get(f"{FD}/contracts", response_model=ContractsPublic)
def list_contracts(
    session: SessionDep,
    principal: Participant,
    limit: Limit = 50,
    offset: Offset = 0,
    person_id: IdQuery = None,
    team_id: IdQuery = None,
    status: ContractStatus | None = None,
) -> ContractsPublic:
    """Contracts, newest term first: a resident's own; staff's by the persons' region."""
    total, rows = service.list_contracts(
        session,
        principal,
        limit=limit,
        offset=offset,
        person_id=person_id,
        team_id=team_id,
        status=status,
    )
    return ContractsPublic(
        items=[ContractPublic.of(c) for c in rows], total=total, limit=limit, offset=offset
    )


@router.get(f"{FD}/contracts/{{contract_id}}", response_model=ContractPublic, responses=NOT_FOUND)
def get_contract(session: SessionDep, principal: Participant, contract_id: str) -> ContractPublic:
    """One contract."""
    return ContractPublic.of(service.visible_contract(session, principal, contract_id))


@router.post(
    f"{FD}/contracts/{{contract_id}}/renew",
    response_model=ContractPublic,
    status_code=201,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def renew(
    session: SessionDep,
    principal: Participant,
    contract_id: str,
    response: Response,
    body: ContractRenew | None = None,
) -> ContractPublic:
    """Renew for the next year: the new term (scheduled until it begins)."""
    body = body or ContractRenew()
    contract = service.renew(
        session, principal, contract_id, package_code=body.package, team_id=body.team_id
    )
    response.headers["Location"] = f"/api/v1{FD}/contracts/{contract.id}"
    return ContractPublic.of(contract)


@router.post(
    f"{FD}/contracts/{{contract_id}}/terminate",
    response_model=ContractPublic,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def terminate(
    session: SessionDep, principal: Participant, contract_id: str, body: ContractTerminate
) -> ContractPublic:
    """End a contract early; its open follow-up tasks are cancelled."""
    return ContractPublic.of(service.terminate(session, principal, contract_id, reason=body.reason))


# --- follow-up tasks ------------------------------------------------------------------------


@router.get(f"{FD}/tasks", response_model=TasksPublic)
def list_tasks(
    session: SessionDep,
    principal: Participant,
    limit: Limit = 50,
    offset: Offset = 0,
    person_id: IdQuery = None,
    team_id: IdQuery = None,
    program: CodeQuery = None,
    status: TaskStatus | None = None,
    due_before: Annotated[date | None, Query(description="due strictly before this day")] = None,
) -> TasksPublic:
    """Follow-up tasks, earliest due first: a resident's own; staff's by the person's region."""
    total, rows = service.list_tasks(
        session,
        principal,
        limit=limit,
        offset=offset,
        person_id=person_id,
        team_id=team_id,
        program=program,
        status=status,
        due_before=due_before,
    )
    return TasksPublic(
        items=[TaskPublic.of(t) for t in rows], total=total, limit=limit, offset=offset
    )


@router.post(f"{FD}/tasks/refresh", response_model=RefreshPublic)
def refresh_tasks(session: SessionDep, principal: Staff) -> RefreshPublic:
    """Run the follow-up schedule over the caller's jurisdiction (idempotent)."""
    return RefreshPublic.of(service.refresh_tasks(session, principal))


@router.get(f"{FD}/tasks/{{task_id}}", response_model=TaskPublic, responses=NOT_FOUND)
def get_task(session: SessionDep, principal: Participant, task_id: str) -> TaskPublic:
    """One follow-up task."""
    return TaskPublic.of(service.visible_task(session, principal, task_id))


@router.post(
    f"{FD}/tasks/{{task_id}}/complete",
    response_model=FollowUpDonePublic,
    responses={**NOT_FOUND, **CONFLICT, **INVALID},
)
def complete_task(
    session: SessionDep,
    principal: Staff,
    task_id: str,
    body: FollowUpRecord | None = None,
) -> FollowUpDonePublic:
    """Record the follow-up: the task is done and the next one is scheduled."""
    body = body or FollowUpRecord()
    done = service.record_followup(
        session, principal, task_id, done_on=body.done_on, note=body.note
    )
    return FollowUpDonePublic.of(done)


# --- referrals ------------------------------------------------------------------------------


@router.post(
    "/referrals",
    response_model=ReferralPublic,
    status_code=201,
    responses={**NOT_FOUND, **INVALID},
)
def create_referral(
    session: SessionDep, principal: Staff, body: ReferralCreate, response: Response
) -> ReferralPublic:
    """Refer a person up or down within the medical community."""
    view = service.refer(
        session,
        principal,
        person_id=body.person_id,
        from_provider_id=body.from_provider_id,
        to_provider_id=body.to_provider_id,
        reason=body.reason,
        urgency=body.urgency,
    )
    response.headers["Location"] = f"/api/v1/referrals/{view.referral.id}"
    return ReferralPublic.of(view)


@router.get("/referrals", response_model=ReferralsPublic)
def list_referrals(
    session: SessionDep,
    principal: Participant,
    limit: Limit = 50,
    offset: Offset = 0,
    person_id: IdQuery = None,
    provider_id: IdQuery = None,
    status: ReferralStatus | None = None,
    direction: Direction | None = None,
) -> ReferralsPublic:
    """Referrals, newest first: staff of either end; a resident their own."""
    total, views = service.list_referrals(
        session,
        principal,
        limit=limit,
        offset=offset,
        person_id=person_id,
        provider_id=provider_id,
        status=status,
        direction=direction,
    )
    return ReferralsPublic(
        items=[ReferralPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/referrals/{referral_id}", response_model=ReferralPublic, responses=NOT_FOUND)
def get_referral(session: SessionDep, principal: Participant, referral_id: str) -> ReferralPublic:
    """One referral with its timeline."""
    return ReferralPublic.of(service.visible_referral(session, principal, referral_id))


@router.post(
    "/referrals/{referral_id}/status",
    response_model=ReferralPublic,
    responses={**NOT_FOUND, **CONFLICT, 403: {"description": "not the receiving end", **_PROBLEM}},
)
def move_referral(
    session: SessionDep, principal: Staff, referral_id: str, body: ReferralMove
) -> ReferralPublic:
    """Move a referral along (receiving end): 409 with the allowed moves when not allowed."""
    return ReferralPublic.of(
        service.move_referral(session, principal, referral_id, status=body.status, note=body.note)
    )
