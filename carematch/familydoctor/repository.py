"""Every query of the family-doctor domain.

Status changes are conditional UPDATEs on the status they leave (a task is done once, a referral
is accepted or rejected, never both): the database decides row by row, so two concurrent
requests cannot both make the change. Follow-up tasks are inserted with ``ON CONFLICT DO
NOTHING`` on (person, programme, due date), so a concurrent or repeated run of the schedule
leaves one task.

Jurisdiction filters are region-code prefixes (``region_code LIKE '449901%'``) on codes copied
into each row when it was made.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carematch.familydoctor.models import (
    OPEN_TASK_STATUSES,
    FamilyDoctorContract,
    FamilyDoctorTeam,
    FamilyDoctorTeamMember,
    FollowUpTask,
    Referral,
    ReferralEvent,
)
from carematch.security.models import User

CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the family-doctor domain does not support {dialect}")


def _page(session: Session, stmt: Any, order: Sequence[Any], limit: int, offset: int) -> Any:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return int(total or 0), list(rows)


def add(session: Session, row: Any) -> None:
    """Add a new row and flush (so constraint violations surface here)."""
    session.add(row)
    session.flush()


# --- users (read only: the security domain owns them) ---------------------------------------


def get_user(session: Session, user_id: str) -> User | None:
    """A user by id, to check a team lead's or member's role and region."""
    return session.get(User, user_id)


def usernames(session: Session, user_ids: Iterable[str]) -> dict[str, str]:
    """User id → username, for display."""
    ids = sorted(set(user_ids))
    found: dict[str, str] = {}
    for chunk in _chunks(ids):
        rows = session.execute(select(User.id, User.username).where(User.id.in_(chunk)))
        found.update((user_id, name) for user_id, name in rows)
    return found


# --- teams ----------------------------------------------------------------------------------


def get_team(session: Session, team_id: str) -> FamilyDoctorTeam | None:
    """A team by id."""
    return session.get(FamilyDoctorTeam, team_id)


def teams_by_id(session: Session, team_ids: Iterable[str]) -> dict[str, FamilyDoctorTeam]:
    """Teams by id (those that exist)."""
    ids = sorted(set(team_ids))
    found: dict[str, FamilyDoctorTeam] = {}
    for chunk in _chunks(ids):
        for team in session.scalars(select(FamilyDoctorTeam).where(FamilyDoctorTeam.id.in_(chunk))):
            found[team.id] = team
    return found


def members_of(
    session: Session, team_ids: Sequence[str]
) -> dict[str, list[FamilyDoctorTeamMember]]:
    """Each team's members, in the order they were added."""
    found: dict[str, list[FamilyDoctorTeamMember]] = defaultdict(list)
    for chunk in _chunks(list(team_ids)):
        rows = session.scalars(
            select(FamilyDoctorTeamMember)
            .where(FamilyDoctorTeamMember.team_id.in_(chunk))
            .order_by(FamilyDoctorTeamMember.added_at, FamilyDoctorTeamMember.user_id)
        )
        for row in rows:
            found[row.team_id].append(row)
    return found


def get_member(session: Session, team_id: str, user_id: str) -> FamilyDoctorTeamMember | None:
    """One membership."""
    return session.get(FamilyDoctorTeamMember, (team_id, user_id))


def delete_member(session: Session, member: FamilyDoctorTeamMember) -> None:
    """Remove a membership."""
    session.delete(member)
    session.flush()


def _team_scope(region_prefix: str | None) -> list[ColumnElement[bool]]:
    if region_prefix is None:
        return []
    return [
        or_(
            FamilyDoctorTeam.region_code.startswith(region_prefix, autoescape=True),
            FamilyDoctorTeam.area_code.startswith(region_prefix, autoescape=True),
        )
    ]


def list_teams(
    session: Session,
    *,
    limit: int,
    offset: int,
    region_prefix: str | None = None,
    area_codes: Sequence[str] | None = None,
    provider_id: str | None = None,
    active: bool | None = None,
) -> tuple[int, list[FamilyDoctorTeam]]:
    """Teams by name: within a region prefix (staff), or serving one of ``area_codes`` (a
    resident's community and the regions above it)."""
    where = _team_scope(region_prefix)
    if area_codes is not None:
        where.append(FamilyDoctorTeam.area_code.in_(list(area_codes)))
    if provider_id is not None:
        where.append(FamilyDoctorTeam.provider_id == provider_id)
    if active is not None:
        where.append(FamilyDoctorTeam.active.is_(active))
    stmt = select(FamilyDoctorTeam).where(*where)
    return _page(session, stmt, (FamilyDoctorTeam.name, FamilyDoctorTeam.id), limit, offset)


# --- contracts ------------------------------------------------------------------------------


def get_contract(session: Session, contract_id: str) -> FamilyDoctorContract | None:
    """A contract by id, read afresh (its status may have changed in this transaction)."""
    return session.scalar(
        select(FamilyDoctorContract)
        .where(FamilyDoctorContract.id == contract_id)
        .execution_options(populate_existing=True)
    )


def contracts_of_person(session: Session, person_id: str) -> list[FamilyDoctorContract]:
    """Every contract of a person, oldest term first, read afresh."""
    return list(
        session.scalars(
            select(FamilyDoctorContract)
            .where(FamilyDoctorContract.person_id == person_id)
            .order_by(FamilyDoctorContract.starts_on, FamilyDoctorContract.signed_at)
            .execution_options(populate_existing=True)
        )
    )


def successor_of(session: Session, contract_id: str) -> FamilyDoctorContract | None:
    """The renewal of a contract, if it has one."""
    return session.scalar(
        select(FamilyDoctorContract).where(FamilyDoctorContract.previous_id == contract_id)
    )


def settle_contracts(
    session: Session,
    today: date,
    *,
    region_prefix: str | None = None,
    person_id: str | None = None,
) -> tuple[int, int]:
    """Bring stored statuses up to ``today``: active terms that have ended expire, then
    scheduled terms that have begun become active. Returns (expired, activated).

    Expiring first keeps the one-active-contract index satisfied: a renewal starts the day
    after the term it continues ends.
    """
    scope: list[ColumnElement[bool]] = []
    if region_prefix is not None:
        scope.append(FamilyDoctorContract.region_code.startswith(region_prefix, autoescape=True))
    if person_id is not None:
        scope.append(FamilyDoctorContract.person_id == person_id)
    expired = session.execute(
        update(FamilyDoctorContract)
        .where(
            FamilyDoctorContract.status == "active",
            FamilyDoctorContract.ends_on < today,
            *scope,
        )
        .values(status="expired")
        .returning(FamilyDoctorContract.id)
        .execution_options(synchronize_session=False)
    ).all()
    activated = session.execute(
        update(FamilyDoctorContract)
        .where(
            FamilyDoctorContract.status == "scheduled",
            FamilyDoctorContract.starts_on <= today,
            FamilyDoctorContract.ends_on >= today,
            *scope,
        )
        .values(status="active")
        .returning(FamilyDoctorContract.id)
        .execution_options(synchronize_session=False)
    ).all()
    # A scheduled term that began and ended unseen (no sweep ran all year) has expired too.
    lapsed = session.execute(
        update(FamilyDoctorContract)
        .where(
            FamilyDoctorContract.status == "scheduled",
            FamilyDoctorContract.ends_on < today,
            *scope,
        )
        .values(status="expired")
        .returning(FamilyDoctorContract.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(expired) + len(lapsed), len(activated)


def end_contract(
    session: Session,
    contract_id: str,
    *,
    now: datetime,
    actor: str,
    reason: str,
) -> bool:
    """Terminate an active or scheduled contract; False when it is in neither status."""
    row = session.execute(
        update(FamilyDoctorContract)
        .where(
            FamilyDoctorContract.id == contract_id,
            FamilyDoctorContract.status.in_(("active", "scheduled")),
        )
        .values(
            status="terminated",
            terminated_at=now,
            terminated_by=actor,
            termination_reason=reason,
        )
        .returning(FamilyDoctorContract.id)
        .execution_options(synchronize_session=False)
    ).first()
    return row is not None


def _contract_status_is(status: str, today: date) -> ColumnElement[bool]:
    """Contracts whose status as of ``today`` is ``status``, whether or not a sweep has stored
    it yet (an active term past its end reads expired; a scheduled one that began, active)."""
    c = FamilyDoctorContract
    if status == "active":
        return ((c.status == "active") & (c.ends_on >= today)) | (
            (c.status == "scheduled") & (c.starts_on <= today) & (c.ends_on >= today)
        )
    if status == "scheduled":
        return (c.status == "scheduled") & (c.starts_on > today)
    if status == "expired":
        return (c.status == "expired") | (
            c.status.in_(("active", "scheduled")) & (c.ends_on < today)
        )
    return c.status == status


def list_contracts(
    session: Session,
    *,
    limit: int,
    offset: int,
    today: date,
    region_prefix: str | None = None,
    person_ids: Sequence[str] | None = None,
    team_id: str | None = None,
    status: str | None = None,
) -> tuple[int, list[FamilyDoctorContract]]:
    """Contracts, newest term first; ``status`` is read as of ``today``."""
    where: list[ColumnElement[bool]] = []
    if region_prefix is not None:
        where.append(FamilyDoctorContract.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(FamilyDoctorContract.person_id.in_(list(person_ids)))
    if team_id is not None:
        where.append(FamilyDoctorContract.team_id == team_id)
    if status is not None:
        where.append(_contract_status_is(status, today))
    stmt = select(FamilyDoctorContract).where(*where)
    order = (FamilyDoctorContract.starts_on.desc(), FamilyDoctorContract.id)
    return _page(session, stmt, order, limit, offset)


def active_contracts_after(
    session: Session, after: str, size: int, region_prefix: str | None = None
) -> list[FamilyDoctorContract]:
    """A page of active contracts by id, after ``after`` (keyset paging for batch runs)."""
    where: list[ColumnElement[bool]] = [
        FamilyDoctorContract.status == "active",
        FamilyDoctorContract.id > after,
    ]
    if region_prefix is not None:
        where.append(FamilyDoctorContract.region_code.startswith(region_prefix, autoescape=True))
    return list(
        session.scalars(
            select(FamilyDoctorContract).where(*where).order_by(FamilyDoctorContract.id).limit(size)
        )
    )


def signed_persons(session: Session, on: date, person_ids: Sequence[str] | None = None) -> set[str]:
    """Persons whose contract covers ``on`` (by its dates, so a status a sweep has not yet
    brought up to date does not count a lapsed contract)."""
    where: list[ColumnElement[bool]] = [
        FamilyDoctorContract.status.in_(("active", "scheduled")),
        FamilyDoctorContract.starts_on <= on,
        FamilyDoctorContract.ends_on >= on,
    ]
    stmt = select(FamilyDoctorContract.person_id).where(*where).distinct()
    if person_ids is None:
        return set(session.scalars(stmt))
    found: set[str] = set()
    for chunk in _chunks(list(person_ids)):
        found.update(session.scalars(stmt.where(FamilyDoctorContract.person_id.in_(chunk))))
    return found


# --- follow-up tasks ------------------------------------------------------------------------


def get_task(session: Session, task_id: str) -> FollowUpTask | None:
    """A task by id, read afresh."""
    return session.scalar(
        select(FollowUpTask)
        .where(FollowUpTask.id == task_id)
        .execution_options(populate_existing=True)
    )


def tasks_of(
    session: Session, person_ids: Sequence[str], program: str | None = None
) -> list[FollowUpTask]:
    """The persons' tasks that are not cancelled (what the schedule engine builds on)."""
    found: list[FollowUpTask] = []
    for chunk in _chunks(list(person_ids)):
        stmt = select(FollowUpTask).where(
            FollowUpTask.person_id.in_(chunk), FollowUpTask.status != "cancelled"
        )
        if program is not None:
            stmt = stmt.where(FollowUpTask.program == program)
        found.extend(session.scalars(stmt.execution_options(populate_existing=True)))
    return found


def insert_task(session: Session, values: dict[str, Any]) -> bool:
    """Insert a task unless one exists for its person, programme and due date; True if new."""
    stmt = (
        _insert(session, FollowUpTask)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=[FollowUpTask.person_id, FollowUpTask.program, FollowUpTask.due_on]
        )
        .returning(FollowUpTask.id)
    )
    return session.execute(stmt).first() is not None


def reopen_task(session: Session, task_id: str, values: dict[str, Any]) -> bool:
    """Open again a cancelled task the schedule asks for once more; True if it was cancelled."""
    row = session.execute(
        update(FollowUpTask)
        .where(FollowUpTask.id == task_id, FollowUpTask.status == "cancelled")
        .values(**values)
        .returning(FollowUpTask.id)
        .execution_options(synchronize_session=False)
    ).first()
    return row is not None


def complete_task(
    session: Session, task_id: str, *, done_on: date, actor: str, note: str | None, now: datetime
) -> bool:
    """Mark an open task done; False when it is done or cancelled already."""
    row = session.execute(
        update(FollowUpTask)
        .where(FollowUpTask.id == task_id, FollowUpTask.status.in_(OPEN_TASK_STATUSES))
        .values(status="done", done_on=done_on, done_by=actor, note=note, changed_at=now)
        .returning(FollowUpTask.id)
        .execution_options(synchronize_session=False)
    ).first()
    return row is not None


def cancel_open_tasks(
    session: Session,
    person_id: str,
    *,
    now: datetime,
    programs: Sequence[str] | None = None,
    keep: Sequence[str] | None = None,
) -> list[str | None]:
    """Cancel a person's open tasks (of ``programs``, or all but ``keep``); their reminder keys."""
    where: list[ColumnElement[bool]] = [
        FollowUpTask.person_id == person_id,
        FollowUpTask.status.in_(OPEN_TASK_STATUSES),
    ]
    if programs is not None:
        where.append(FollowUpTask.program.in_(list(programs)))
    if keep is not None:
        where.append(FollowUpTask.program.not_in(list(keep)))
    rows = session.execute(
        update(FollowUpTask)
        .where(*where)
        .values(status="cancelled", changed_at=now)
        .returning(FollowUpTask.reminder_key)
        .execution_options(synchronize_session=False)
    ).all()
    return [r[0] for r in rows]


def mark_overdue(session: Session, today: date, region_prefix: str | None = None) -> int:
    """Pending tasks whose due date has passed become overdue; how many did."""
    where: list[ColumnElement[bool]] = [
        FollowUpTask.status == "pending",
        FollowUpTask.due_on < today,
    ]
    if region_prefix is not None:
        where.append(FollowUpTask.region_code.startswith(region_prefix, autoescape=True))
    rows = session.execute(
        update(FollowUpTask)
        .where(*where)
        .values(status="overdue")
        .returning(FollowUpTask.id)
        .execution_options(synchronize_session=False)
    ).all()
    return len(rows)


def list_tasks(
    session: Session,
    *,
    limit: int,
    offset: int,
    today: date,
    region_prefix: str | None = None,
    person_ids: Sequence[str] | None = None,
    team_id: str | None = None,
    program: str | None = None,
    status: str | None = None,
    due_before: date | None = None,
) -> tuple[int, list[FollowUpTask]]:
    """Tasks, earliest due first. ``status`` is read as of ``today``: a pending task past its
    due date counts as overdue even before a sweep has stored it so."""
    where: list[ColumnElement[bool]] = []
    if region_prefix is not None:
        where.append(FollowUpTask.region_code.startswith(region_prefix, autoescape=True))
    if person_ids is not None:
        where.append(FollowUpTask.person_id.in_(list(person_ids)))
    if team_id is not None:
        where.append(FollowUpTask.team_id == team_id)
    if program is not None:
        where.append(FollowUpTask.program == program)
    if due_before is not None:
        where.append(FollowUpTask.due_on < due_before)
    if status == "overdue":
        where.append(
            or_(
                FollowUpTask.status == "overdue",
                (FollowUpTask.status == "pending") & (FollowUpTask.due_on < today),
            )
        )
    elif status == "pending":
        where.append((FollowUpTask.status == "pending") & (FollowUpTask.due_on >= today))
    elif status is not None:
        where.append(FollowUpTask.status == status)
    stmt = select(FollowUpTask).where(*where)
    order = (FollowUpTask.due_on, FollowUpTask.person_id, FollowUpTask.program)
    return _page(session, stmt, order, limit, offset)


# --- referrals ------------------------------------------------------------------------------


def get_referral(session: Session, referral_id: str) -> Referral | None:
    """A referral by id, read afresh."""
    return session.scalar(
        select(Referral).where(Referral.id == referral_id).execution_options(populate_existing=True)
    )


def move_referral(
    session: Session, referral_id: str, *, current: str, target: str, now: datetime
) -> bool:
    """Move a referral from ``current`` to ``target``; False when it is no longer ``current``
    (another request moved it first)."""
    row = session.execute(
        update(Referral)
        .where(Referral.id == referral_id, Referral.status == current)
        .values(status=target, updated_at=now)
        .returning(Referral.id)
        .execution_options(synchronize_session=False)
    ).first()
    return row is not None


def events_of(session: Session, referral_ids: Sequence[str]) -> dict[str, list[ReferralEvent]]:
    """Each referral's timeline, oldest first."""
    found: dict[str, list[ReferralEvent]] = defaultdict(list)
    for chunk in _chunks(list(referral_ids)):
        rows = session.scalars(
            select(ReferralEvent)
            .where(ReferralEvent.referral_id.in_(chunk))
            .order_by(ReferralEvent.id)
        )
        for row in rows:
            found[row.referral_id].append(row)
    return found


def list_referrals(
    session: Session,
    *,
    limit: int,
    offset: int,
    region_prefix: str | None = None,
    person_ids: Sequence[str] | None = None,
    provider_id: str | None = None,
    status: str | None = None,
    direction: str | None = None,
) -> tuple[int, list[Referral]]:
    """Referrals, newest first; within a region prefix at either end (staff)."""
    where: list[ColumnElement[bool]] = []
    if region_prefix is not None:
        where.append(
            or_(
                Referral.from_region.startswith(region_prefix, autoescape=True),
                Referral.to_region.startswith(region_prefix, autoescape=True),
            )
        )
    if person_ids is not None:
        where.append(Referral.person_id.in_(list(person_ids)))
    if provider_id is not None:
        where.append(
            or_(Referral.from_provider_id == provider_id, Referral.to_provider_id == provider_id)
        )
    if status is not None:
        where.append(Referral.status == status)
    if direction is not None:
        where.append(Referral.direction == direction)
    stmt = select(Referral).where(*where)
    return _page(session, stmt, (Referral.created_at.desc(), Referral.id), limit, offset)
