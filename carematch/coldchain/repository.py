"""Every query of the cold-chain tables (lots, log, checkpoints, telemetry, alarms, exposures)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.coldchain.models import (
    ColdChainAlarm,
    ColdChainCheckpoint,
    ColdChainEvent,
    ColdChainLogHead,
    LotExposureRow,
    RejectedReading,
    TelemetryReading,
    VaccineLot,
)


def aware(moment: datetime) -> datetime:
    """A stored time as an aware UTC datetime (SQLite gives back naive ones)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- the log ----------------------------------------------------------------------------------


def claim_next_index(session: Session) -> tuple[int, bytes]:
    """The next leaf index and the frontier before it, under the head row's lock until the
    transaction ends.

    ``UPDATE … RETURNING`` takes the row lock on PostgreSQL and the write lock on SQLite, so a
    concurrent append waits here and then sees the incremented size: no two appends share an
    index, and a rolled-back append gives its index (and frontier) back.
    """
    stmt = (
        update(ColdChainLogHead)
        .where(ColdChainLogHead.id == 1)
        .values(size=ColdChainLogHead.size + 1)
        .returning(ColdChainLogHead.size, ColdChainLogHead.frontier)
    )
    row = session.execute(stmt).one_or_none()
    if row is None:
        # The migration seeds the row; a database built another way gets it on first append,
        # with the frontier of the leaves already stored.
        from carematch.coldchain import frontier
        from carematch.coldchain.merkle import hash_leaf

        state = b""
        stored = leaves(session)
        for size, (_, leaf) in enumerate(stored):
            state = frontier.append(state, size, hash_leaf(leaf))
        try:
            with session.begin_nested():
                session.add(ColdChainLogHead(id=1, size=len(stored), frontier=state))
        except IntegrityError:
            pass
        row = session.execute(stmt).one()
    return int(row[0]) - 1, bytes(row[1])


def store_frontier(session: Session, state: bytes) -> None:
    """Keep the frontier after an append (the head row is locked by ``claim_next_index``)."""
    session.execute(update(ColdChainLogHead).where(ColdChainLogHead.id == 1).values(frontier=state))


def head(session: Session) -> tuple[int, bytes] | None:
    """The log's size and frontier as committed (or as this transaction left them)."""
    row = session.execute(
        select(ColdChainLogHead.size, ColdChainLogHead.frontier).where(ColdChainLogHead.id == 1)
    ).one_or_none()
    return None if row is None else (int(row[0]), bytes(row[1]))


def leaf_hashes(session: Session) -> list[tuple[int, bytes]]:
    """Every (leaf index, leaf hash recorded at append), in order: what proofs are served from."""
    rows = session.execute(
        select(ColdChainEvent.leaf_index, ColdChainEvent.leaf_hash).order_by(
            ColdChainEvent.leaf_index
        )
    )
    return [(int(i), bytes(h)) for i, h in rows]


def add_event(session: Session, event: ColdChainEvent) -> None:
    session.add(event)
    session.flush()


def log_size(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(ColdChainEvent)) or 0)


def events(
    session: Session, *, limit: int | None = None, offset: int = 0, lot_id: str | None = None
) -> Sequence[ColdChainEvent]:
    stmt = select(ColdChainEvent).order_by(ColdChainEvent.leaf_index)
    if lot_id is not None:
        stmt = stmt.where(ColdChainEvent.lot_id == lot_id)
    if offset:
        stmt = stmt.offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return session.scalars(stmt).all()


def leaves(session: Session) -> list[tuple[int, bytes]]:
    """Every (leaf index, leaf bytes), in order: what the tree is computed from."""
    rows = session.execute(
        select(ColdChainEvent.leaf_index, ColdChainEvent.leaf).order_by(ColdChainEvent.leaf_index)
    )
    return [(int(i), bytes(b)) for i, b in rows]


def event_at(session: Session, index: int) -> ColdChainEvent | None:
    return session.get(ColdChainEvent, index)


def events_at_locations(session: Session, lot_ids: Iterable[str]) -> Sequence[ColdChainEvent]:
    """Every event of the given lots, by lot and time (their stays are read from these)."""
    ids = list(lot_ids)
    if not ids:
        return []
    return session.scalars(
        select(ColdChainEvent)
        .where(ColdChainEvent.lot_id.in_(ids))
        .order_by(ColdChainEvent.lot_id, ColdChainEvent.at, ColdChainEvent.leaf_index)
    ).all()


def lots_ever_at(session: Session, location_id: str) -> list[str]:
    return list(
        session.scalars(
            select(ColdChainEvent.lot_id)
            .where(ColdChainEvent.location_id == location_id)
            .distinct()
            .order_by(ColdChainEvent.lot_id)
        )
    )


# --- checkpoints ------------------------------------------------------------------------------


def checkpoints(session: Session) -> Sequence[ColdChainCheckpoint]:
    return session.scalars(select(ColdChainCheckpoint).order_by(ColdChainCheckpoint.size)).all()


def checkpoint_of_size(session: Session, size: int) -> ColdChainCheckpoint | None:
    return session.get(ColdChainCheckpoint, size)


def latest_checkpoint(session: Session) -> ColdChainCheckpoint | None:
    return session.scalars(
        select(ColdChainCheckpoint).order_by(ColdChainCheckpoint.size.desc()).limit(1)
    ).first()


def add_checkpoint(session: Session, checkpoint: ColdChainCheckpoint) -> bool:
    """Store a checkpoint unless one of its size is stored already; whether it was added."""
    try:
        with session.begin_nested():
            session.add(checkpoint)
    except IntegrityError:
        return False
    return True


# --- lots -------------------------------------------------------------------------------------


def get_lot(session: Session, lot_id: str) -> VaccineLot | None:
    return session.get(VaccineLot, lot_id)


def lot_by_number(session: Session, manufacturer: str, lot_number: str) -> VaccineLot | None:
    return session.scalars(
        select(VaccineLot).where(
            VaccineLot.manufacturer == manufacturer, VaccineLot.lot_number == lot_number
        )
    ).first()


def list_lots(
    session: Session, prefix: str | None, *, limit: int, offset: int, status: str | None = None
) -> tuple[int, Sequence[VaccineLot]]:
    stmt = select(VaccineLot)
    if prefix:
        stmt = stmt.where(VaccineLot.region_code.startswith(prefix, autoescape=True))
    if status:
        stmt = stmt.where(VaccineLot.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(VaccineLot.created_at, VaccineLot.id).limit(limit).offset(offset)
    ).all()
    return int(total), rows


# --- telemetry --------------------------------------------------------------------------------


def existing_readings(
    session: Session, device_id: str, times: Iterable[datetime]
) -> dict[datetime, float]:
    wanted = list(times)
    if not wanted:
        return {}
    rows = session.execute(
        select(TelemetryReading.at, TelemetryReading.celsius).where(
            TelemetryReading.device_id == device_id, TelemetryReading.at.in_(wanted)
        )
    )
    return {aware(at): float(c) for at, c in rows}


def add_readings(session: Session, rows: list[dict[str, object]]) -> None:
    if rows:
        session.execute(insert(TelemetryReading), rows)


def device_readings(session: Session, device_id: str) -> list[tuple[datetime, float]]:
    rows = session.execute(
        select(TelemetryReading.at, TelemetryReading.celsius)
        .where(TelemetryReading.device_id == device_id)
        .order_by(TelemetryReading.at)
    )
    return [(aware(at), float(c)) for at, c in rows]


def add_rejection(session: Session, rejection: RejectedReading) -> None:
    if session.get(RejectedReading, rejection.id) is None:
        session.add(rejection)
        session.flush()


def rejections(session: Session, *, limit: int, offset: int) -> Sequence[RejectedReading]:
    return session.scalars(
        select(RejectedReading)
        .order_by(RejectedReading.created_at, RejectedReading.source, RejectedReading.line)
        .limit(limit)
        .offset(offset)
    ).all()


def get_alarm(session: Session, alarm_id: str) -> ColdChainAlarm | None:
    return session.get(ColdChainAlarm, alarm_id)


def alarms(
    session: Session, *, device_id: str | None, limit: int, offset: int
) -> tuple[int, Sequence[ColdChainAlarm]]:
    stmt = select(ColdChainAlarm)
    if device_id:
        stmt = stmt.where(ColdChainAlarm.device_id == device_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ColdChainAlarm.since, ColdChainAlarm.id).limit(limit).offset(offset)
    ).all()
    return int(total), rows


def add_alarm(session: Session, alarm: ColdChainAlarm) -> None:
    session.add(alarm)
    session.flush()


def exposure(session: Session, lot_id: str, alarm_id: str) -> LotExposureRow | None:
    return session.get(LotExposureRow, (lot_id, alarm_id))


def add_exposure(session: Session, row: LotExposureRow) -> None:
    session.add(row)
    session.flush()


def exposures_of_alarm(session: Session, alarm_id: str) -> Sequence[LotExposureRow]:
    return session.scalars(
        select(LotExposureRow)
        .where(LotExposureRow.alarm_id == alarm_id)
        .order_by(LotExposureRow.lot_id)
    ).all()


def exposures_of_lot(
    session: Session, lot_id: str
) -> Sequence[tuple[LotExposureRow, ColdChainAlarm]]:
    rows = session.execute(
        select(LotExposureRow, ColdChainAlarm)
        .join(ColdChainAlarm, ColdChainAlarm.id == LotExposureRow.alarm_id)
        .where(LotExposureRow.lot_id == lot_id)
        .order_by(ColdChainAlarm.since)
    )
    return [(e, a) for e, a in rows]
