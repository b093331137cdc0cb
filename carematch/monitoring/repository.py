"""Every query of the chronic-monitoring domain.

Readings and alerts are inserted with ``ON CONFLICT DO NOTHING`` on ids derived from their
content, so a re-import or a concurrent request stores each once. Closing a task is a
conditional UPDATE on ``status = 'open'``: two doctors closing at once cannot both succeed.
Jurisdiction filters are region-code prefixes on the codes copied into each row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carematch.monitoring.models import (
    MonitoringAlert,
    MonitoringReading,
    MonitoringReject,
    MonitoringTask,
)
from carematch.security.models import User

CHUNK = 500


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the monitoring domain does not support {dialect}")


def insert_readings(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert readings, skipping ids already stored; returns how many were new."""
    if not rows:
        return 0
    # One statement executed over many parameter sets: SQLAlchemy batches it as
    # "insertmanyvalues" (a few multi-row INSERTs), and RETURNING counts what was new on both
    # backends (a multi-row rowcount is -1 on some drivers).
    stmt = (
        _insert(session, MonitoringReading)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(MonitoringReading.id)
    )
    added = len(session.execute(stmt, list(rows)).all())
    session.flush()
    return added


def insert_rejects(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Keep the rows an import could not take (ORM adds: the raw values are encrypted)."""
    session.add_all([MonitoringReject(**row) for row in rows])
    session.flush()


def rejects_of(session: Session, batch: str) -> list[MonitoringReject]:
    return list(
        session.scalars(
            select(MonitoringReject).where(MonitoringReject.batch == batch).order_by("row")
        )
    )


def readings_of(
    session: Session, person_ids: Sequence[str], start: date | None = None, end: date | None = None
) -> list[tuple[str, date, float, float]]:
    """(person_id, day, sbp, dbp) of the persons' readings, optionally within [start, end]."""
    out: list[tuple[str, date, float, float]] = []
    for chunk in _chunks(list(person_ids)):
        stmt = select(
            MonitoringReading.person_id,
            MonitoringReading.day,
            MonitoringReading.sbp,
            MonitoringReading.dbp,
        ).where(MonitoringReading.person_id.in_(chunk))
        if start is not None:
            stmt = stmt.where(MonitoringReading.day >= start)
        if end is not None:
            stmt = stmt.where(MonitoringReading.day <= end)
        out.extend(
            (r[0], r[1], float(r[2]), float(r[3]))
            for r in session.execute(stmt.order_by(MonitoringReading.person_id, "day"))
        )
    return out


def readings_in_region(
    session: Session, region_prefix: str | None, start: date, end: date
) -> list[tuple[str, str | None, date, str, float, float]]:
    """(person_id, region_code, day, measured_at, sbp, dbp) of readings in a window."""
    stmt = select(
        MonitoringReading.person_id,
        MonitoringReading.region_code,
        MonitoringReading.day,
        MonitoringReading.measured_at,
        MonitoringReading.sbp,
        MonitoringReading.dbp,
    ).where(MonitoringReading.day >= start, MonitoringReading.day <= end)
    if region_prefix is not None:
        stmt = stmt.where(MonitoringReading.region_code.like(f"{region_prefix}%"))
    return [
        (r[0], r[1], r[2], r[3], float(r[4]), float(r[5]))
        for r in session.execute(stmt.order_by(MonitoringReading.person_id))
    ]


def alerts_of(session: Session, person_ids: Sequence[str]) -> list[MonitoringAlert]:
    out: list[MonitoringAlert] = []
    for chunk in _chunks(list(person_ids)):
        out.extend(
            session.scalars(select(MonitoringAlert).where(MonitoringAlert.person_id.in_(chunk)))
        )
    return out


def insert_alert(session: Session, values: dict[str, Any]) -> bool:
    """Insert an alert unless its (person, rule, day) is stored; True when it was new."""
    stmt = _insert(session, MonitoringAlert).values(**values)
    result = session.execute(stmt.on_conflict_do_nothing().returning(MonitoringAlert.id))
    return result.first() is not None


def insert_task(session: Session, values: dict[str, Any]) -> bool:
    """Insert the alert's task unless it has one; True when it was new."""
    stmt = _insert(session, MonitoringTask).values(**values)
    result = session.execute(
        stmt.on_conflict_do_nothing(index_elements=["alert_id"]).returning(MonitoringTask.id)
    )
    return result.first() is not None


def get_task(session: Session, task_id: str) -> MonitoringTask | None:
    return session.get(MonitoringTask, task_id)


def close_task(session: Session, task_id: str, note: str | None, actor: str, at: datetime) -> bool:
    """Close an open task; False when it was not open (closed already, or by someone else)."""
    task = session.get(MonitoringTask, task_id)
    if task is None:
        return False
    result = session.execute(
        update(MonitoringTask)
        .where(MonitoringTask.id == task_id, MonitoringTask.status == "open")
        .values(status="done", closed_at=at, closed_by=actor)
        .execution_options(synchronize_session=False)
    )
    if not getattr(result, "rowcount", 0):
        return False
    session.refresh(task)
    task.note = note  # through the ORM: the note is encrypted by its column type
    session.flush()
    return True


def list_tasks(
    session: Session,
    *,
    region_prefix: str | None,
    assignee: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[MonitoringTask]]:
    where: list[ColumnElement[bool]] = []
    if region_prefix is not None:
        where.append(MonitoringTask.region_code.like(f"{region_prefix}%"))
    if assignee is not None:
        where.append(MonitoringTask.assignee_user_id == assignee)
    if status is not None:
        where.append(MonitoringTask.status == status)
    stmt = select(MonitoringTask).where(*where)
    total = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.scalars(
        stmt.order_by(MonitoringTask.status.desc(), MonitoringTask.due_on, MonitoringTask.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return int(total or 0), list(rows)


def active_doctors(session: Session) -> list[tuple[str, str | None]]:
    """(user id, region code) of active doctors (read only: the security domain owns users)."""
    stmt = select(User.id, User.region_code).where(User.role == "doctor", User.active.is_(True))
    return [(r[0], r[1]) for r in session.execute(stmt.order_by(User.id))]
