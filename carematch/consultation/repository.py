"""Every query of the consultation domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, update
from sqlalchemy.orm import Session

from carematch.consultation.models import Consultation, ConsultationAttachment


def add(session: Session, row: object) -> None:
    """Stage a new row and flush it (so constraint errors surface here)."""
    session.add(row)
    session.flush()


def get(session: Session, consultation_id: str) -> Consultation | None:
    """A consultation by id, read afresh (a conditional update may have changed it)."""
    return session.scalar(
        select(Consultation)
        .where(Consultation.id == consultation_id)
        .execution_options(populate_existing=True)
    )


def attachments_of(
    session: Session, consultation_ids: Sequence[str]
) -> dict[str, list[ConsultationAttachment]]:
    """The attachments of each consultation, in upload order."""
    found: dict[str, list[ConsultationAttachment]] = {cid: [] for cid in consultation_ids}
    if not consultation_ids:
        return found
    rows = session.scalars(
        select(ConsultationAttachment)
        .where(ConsultationAttachment.consultation_id.in_(list(consultation_ids)))
        .order_by(ConsultationAttachment.position)
    )
    for row in rows:
        found[row.consultation_id].append(row)
    return found


def get_attachment(
    session: Session, consultation_id: str, attachment_id: str
) -> ConsultationAttachment | None:
    """One attachment of one consultation."""
    return session.scalar(
        select(ConsultationAttachment).where(
            ConsultationAttachment.id == attachment_id,
            ConsultationAttachment.consultation_id == consultation_id,
        )
    )


def move(session: Session, consultation_id: str, *, current: str, values: dict[str, Any]) -> bool:
    """Change a consultation only if it is still in ``current``: False when another request
    moved it first (the caller answers 409)."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def set_referral(session: Session, consultation_id: str, referral_id: str, now: datetime) -> bool:
    """Record the referral that followed, once: False when one was recorded already."""
    result = session.execute(
        update(Consultation)
        .where(Consultation.id == consultation_id, Consultation.referral_id.is_(None))
        .values(referral_id=referral_id, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _prefixed(column: Any, prefix: str) -> ColumnElement[bool]:
    return column.startswith(prefix, autoescape=True)


def scope_condition(
    requesting: str | None, consulting: str | None, unrestricted: bool
) -> ColumnElement[bool] | None:
    """Rows whose requesting end lies under ``requesting`` or whose consulting end lies under
    ``consulting`` (prefixes; None leaves that end out); None when nothing restricts."""
    if unrestricted:
        return None
    parts = []
    if requesting is not None:
        parts.append(_prefixed(Consultation.from_region, requesting))
    if consulting is not None:
        parts.append(_prefixed(Consultation.to_region, consulting))
    return or_(*parts) if parts else false()


def list_consultations(
    session: Session,
    *,
    limit: int,
    offset: int,
    scope: ColumnElement[bool] | None,
    statuses: Sequence[str] | None = None,
    person_id: str | None = None,
    oldest_first: bool = False,
) -> tuple[int, list[Consultation]]:
    """Consultations in scope, newest first (oldest first for a queue), with the total."""
    conditions: list[ColumnElement[bool]] = []
    if scope is not None:
        conditions.append(scope)
    if statuses:
        conditions.append(Consultation.status.in_(list(statuses)))
    if person_id is not None:
        conditions.append(Consultation.person_id == person_id)
    total = session.scalar(select(func.count()).select_from(Consultation).where(*conditions))
    order = (
        (Consultation.requested_at, Consultation.id)
        if oldest_first
        else (Consultation.requested_at.desc(), Consultation.id.desc())
    )
    rows = session.scalars(
        select(Consultation).where(*conditions).order_by(*order).limit(limit).offset(offset)
    ).all()
    return int(total or 0), list(rows)


def indicator_rows(
    session: Session, *, since: datetime, until: datetime, region_prefix: str | None
) -> list[tuple[datetime, str, datetime | None]]:
    """``(requested_at, status, answered_at)`` of the requests made in ``[since, until)`` by
    providers under ``region_prefix`` (any level; None for all)."""
    conditions = [Consultation.requested_at >= since, Consultation.requested_at < until]
    if region_prefix is not None:
        conditions.append(_prefixed(Consultation.from_region, region_prefix))
    rows = session.execute(
        select(Consultation.requested_at, Consultation.status, Consultation.answered_at).where(
            *conditions
        )
    ).all()
    return [(r[0], str(r[1]), r[2]) for r in rows]
