"""Every query of the feedback domain.

Jurisdiction is a region-code prefix (``region_prefix``); ``None`` means unrestricted (admin).
Times bound into queries are aware UTC: SQLite stores the UTC wall time, so a time in another
zone would compare wrongly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from carematch.core.models import Region
from carematch.feedback.complaints import AWAITING_ANSWER, TERMINAL
from carematch.feedback.ledger import FINISHED, UNFINISHED
from carematch.feedback.models import (
    Complaint,
    ComplaintEvent,
    Finding,
    ProviderFlag,
    RectificationItem,
)

# --- shared --------------------------------------------------------------------------------


def region_exists(session: Session, code: str) -> bool:
    return session.get(Region, code) is not None


def _within(column: Any, prefix: str | None) -> ColumnElement[bool] | None:
    """Rows whose region starts with ``prefix``; None (no condition) when unrestricted."""
    if prefix is None:
        return None
    return column.startswith(prefix, autoescape=True)


def _where(query: Any, *conditions: ColumnElement[bool] | None) -> Any:
    for condition in conditions:
        if condition is not None:
            query = query.where(condition)
    return query


# --- complaints ----------------------------------------------------------------------------


def get_complaint(session: Session, complaint_id: str) -> Complaint | None:
    return session.get(Complaint, complaint_id)


def complaint_conditions(
    *,
    prefix: str | None,
    person_id: str | None,
    status: str | None,
    category: str | None,
    provider_id: str | None,
    overdue: bool | None,
    now: datetime,
    channel: str | None = None,
    open_only: bool = False,
) -> list[ColumnElement[bool] | None]:
    """The filters of a complaint list; ``overdue`` keeps those late (or not late) at ``now``;
    ``open_only`` those not yet closed or rejected."""
    late = and_(Complaint.status.in_(AWAITING_ANSWER), Complaint.due_at <= now)
    return [
        _within(Complaint.region_code, prefix),
        Complaint.complainant_person_id == person_id if person_id is not None else None,
        Complaint.status == status if status is not None else None,
        Complaint.category == category if category is not None else None,
        Complaint.provider_id == provider_id if provider_id is not None else None,
        None if overdue is None else late if overdue else ~late,
        Complaint.channel == channel if channel is not None else None,
        Complaint.status.not_in(sorted(TERMINAL)) if open_only else None,
    ]


def list_complaints(
    session: Session,
    conditions: Sequence[ColumnElement[bool] | None],
    *,
    limit: int,
    offset: int,
    by_deadline: bool = False,
) -> tuple[int, list[Complaint]]:
    """A page of complaints, newest first (or the nearest deadline first), and how many
    match."""
    total = session.scalar(_where(select(func.count()).select_from(Complaint), *conditions))
    order = (
        (Complaint.due_at, Complaint.received_at, Complaint.id)
        if by_deadline
        else (Complaint.received_at.desc(), Complaint.id)
    )
    rows = session.scalars(
        _where(select(Complaint), *conditions).order_by(*order).limit(limit).offset(offset)
    ).all()
    return int(total or 0), list(rows)


def move_complaint(
    session: Session, complaint_id: str, current: str, values: dict[str, Any]
) -> bool:
    """Change a complaint only if it is still in ``current``; False when someone else moved
    it first (two officials acting at once cannot both win)."""
    result = session.execute(
        update(Complaint)
        .where(Complaint.id == complaint_id, Complaint.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def complaint_events(session: Session, complaint_id: str) -> list[ComplaintEvent]:
    return list(
        session.scalars(
            select(ComplaintEvent)
            .where(ComplaintEvent.complaint_id == complaint_id)
            .order_by(ComplaintEvent.seq)
        )
    )


def next_event_seq(session: Session, complaint_id: str) -> int:
    """The number of a complaint's next event."""
    last = session.scalar(
        select(func.max(ComplaintEvent.seq)).where(ComplaintEvent.complaint_id == complaint_id)
    )
    return int(last or 0) + 1


# --- the ledger ----------------------------------------------------------------------------


def get_item(
    session: Session, item_id: str, *, for_update: bool = False
) -> RectificationItem | None:
    """One ledger item; ``for_update`` locks its row (PostgreSQL) so two people reporting on
    it at once take turns instead of both passing the checks on the same old status."""
    return session.get(RectificationItem, item_id, with_for_update=for_update)


def get_finding(session: Session, finding_id: str) -> Finding | None:
    return session.get(Finding, finding_id)


def findings_by_id(session: Session, ids: Sequence[str]) -> dict[str, Finding]:
    if not ids:
        return {}
    rows = session.scalars(select(Finding).where(Finding.id.in_(sorted(set(ids)))))
    return {f.id: f for f in rows}


def shown_status_expression(today: date) -> Any:
    """SQL of the status shown: overdue for an unfinished item after its deadline."""
    return case(
        (
            and_(RectificationItem.status.in_(UNFINISHED), RectificationItem.deadline < today),
            "overdue",
        ),
        else_=RectificationItem.status,
    )


def item_conditions(
    *,
    prefix: str | None,
    today: date,
    status: str | None,
    category: str | None,
    provider_id: str | None,
    complaint_id: str | None,
) -> list[ColumnElement[bool] | None]:
    """The filters of a ledger list; ``status`` is a shown status (overdue included)."""
    return [
        _within(RectificationItem.region_code, prefix),
        shown_status_expression(today) == status if status is not None else None,
        RectificationItem.category == category if category is not None else None,
        RectificationItem.provider_id == provider_id if provider_id is not None else None,
        RectificationItem.finding_id.in_(
            select(Finding.id).where(Finding.complaint_id == complaint_id)
        )
        if complaint_id is not None
        else None,
    ]


def list_items(
    session: Session,
    conditions: Sequence[ColumnElement[bool] | None],
    *,
    limit: int,
    offset: int,
) -> tuple[int, list[RectificationItem]]:
    """A page of ledger items by deadline (the most urgent first), and how many match."""
    total = session.scalar(_where(select(func.count()).select_from(RectificationItem), *conditions))
    rows = session.scalars(
        _where(select(RectificationItem), *conditions)
        .order_by(RectificationItem.deadline, RectificationItem.created_at, RectificationItem.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total or 0), list(rows)


# --- flags ---------------------------------------------------------------------------------


def flags_of(session: Session, provider_ids: Sequence[str]) -> dict[tuple[str, str], ProviderFlag]:
    """Existing flags of these providers by (provider, first period)."""
    if not provider_ids:
        return {}
    rows = session.scalars(
        select(ProviderFlag).where(ProviderFlag.provider_id.in_(sorted(set(provider_ids))))
    )
    return {(f.provider_id, f.first_period): f for f in rows}


def list_flags(
    session: Session,
    *,
    prefix: str | None,
    provider_id: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[ProviderFlag]]:
    conditions = [
        _within(ProviderFlag.region_code, prefix),
        ProviderFlag.provider_id == provider_id if provider_id is not None else None,
    ]
    total = session.scalar(_where(select(func.count()).select_from(ProviderFlag), *conditions))
    rows = session.scalars(
        _where(select(ProviderFlag), *conditions)
        .order_by(ProviderFlag.updated_at.desc(), ProviderFlag.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total or 0), list(rows)


# --- the public board ----------------------------------------------------------------------


def complaint_counts(session: Session, prefix: str | None) -> dict[str, dict[str, int]]:
    """Complaints by status and by category (grouped in the database)."""
    region = _within(Complaint.region_code, prefix)
    by_status = session.execute(
        _where(select(Complaint.status, func.count()), region).group_by(Complaint.status)
    ).all()
    by_category = session.execute(
        _where(select(Complaint.category, func.count()), region).group_by(Complaint.category)
    ).all()
    return {
        "status": {s: int(n) for s, n in by_status},
        "category": {c: int(n) for c, n in by_category},
    }


def complaint_timeliness(session: Session, prefix: str | None, now: datetime) -> dict[str, int]:
    """How many complaints fell due (answered, or past their deadline unanswered; refusals not
    counted), how many of those were answered in time, and how many are late and open."""
    due = or_(
        Complaint.answered_at.is_not(None),
        and_(Complaint.status.in_(AWAITING_ANSWER), Complaint.due_at <= now),
    )
    on_time = and_(Complaint.answered_at.is_not(None), Complaint.answered_at < Complaint.due_at)
    late_open = and_(Complaint.status.in_(AWAITING_ANSWER), Complaint.due_at <= now)
    row = session.execute(
        _where(
            select(
                func.count().filter(due),
                func.count().filter(on_time),
                func.count().filter(late_open),
            ),
            _within(Complaint.region_code, prefix),
        )
    ).one()
    return {"due": int(row[0]), "on_time": int(row[1]), "overdue": int(row[2])}


def item_counts(session: Session, prefix: str | None, today: date) -> dict[str, Any]:
    """Ledger items by shown status and by category, and their timeliness."""
    region = _within(RectificationItem.region_code, prefix)
    shown = shown_status_expression(today)
    by_status = session.execute(_where(select(shown, func.count()), region).group_by(shown)).all()
    by_category = session.execute(
        _where(select(RectificationItem.category, func.count()), region).group_by(
            RectificationItem.category
        )
    ).all()
    finished = RectificationItem.status.in_(FINISHED)
    due = or_(
        finished,
        and_(RectificationItem.status.in_(UNFINISHED), RectificationItem.deadline < today),
    )
    on_time = and_(finished, RectificationItem.done_on <= RectificationItem.deadline)
    timeliness = session.execute(
        _where(select(func.count().filter(due), func.count().filter(on_time)), region)
    ).one()
    return {
        "status": {s: int(n) for s, n in by_status},
        "category": {c: int(n) for c, n in by_category},
        "due": int(timeliness[0]),
        "on_time": int(timeliness[1]),
    }


def complaint_subjects(
    session: Session, start: datetime, end: datetime, prefix: str | None
) -> list[tuple[str | None, str | None]]:
    """``(service_code, provider_id)`` of complaints received in ``[start, end)`` in a region
    prefix (None: all)."""
    stmt = select(Complaint.service_code, Complaint.provider_id).where(
        Complaint.received_at >= start, Complaint.received_at < end
    )
    if prefix is not None:
        stmt = stmt.where(Complaint.region_code.startswith(prefix, autoescape=True))
    return [(s, p) for s, p in session.execute(stmt)]
