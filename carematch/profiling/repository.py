"""Every query of the profiling domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from carematch.profiling.models import Demand
from carematch.security.jurisdiction import region_prefix

BATCH = 5_000
# Why profiling closes a demand: its tag no longer holds (the only reason it reopens one).
NO_LONGER_APPLIES = "no_longer_applies"


def demand_states(session: Session) -> dict[str, tuple[str, str | None]]:
    """Every demand's id, status and why it was closed."""
    rows = session.execute(select(Demand.id, Demand.status, Demand.closed_reason))
    return {did: (status, reason) for did, status, reason in rows}


def insert_demands(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new demands in batches (core insert: a city raises millions)."""
    # ``because`` is encrypted by its column type (EncryptedText) on the way in.
    for i in range(0, len(rows), BATCH):
        session.execute(insert(Demand), list(rows[i : i + BATCH]))


def touch_demands(
    session: Session, seen: Sequence[tuple[str, str, str | None]], as_of: date, now: datetime
) -> None:
    """Demands whose tag still holds: refresh explanation, community and when they were seen.

    ``seen`` holds ``(demand id, because, community code)``; the community follows the person
    when they move, so the demand is listed where they live now.
    """
    # Core UPDATE with executemany: the ORM's bulk-by-primary-key mode cannot refresh many
    # rows with one statement keyed on another parameter name.
    table = cast(Table, Demand.__table__)
    statement = update(table).where(table.c.id == bindparam("demand_id"))
    for i in range(0, len(seen), BATCH):
        session.execute(
            statement,
            [
                {
                    "demand_id": did,
                    "because": because,
                    "community_code": community,
                    "as_of": as_of,
                    "last_seen_at": now,
                }
                for did, because, community in seen[i : i + BATCH]
            ],
        )


def reopen_demands(session: Session, ids: Sequence[str], now: datetime) -> None:
    """Demands closed because their tag stopped holding, whose tag holds again, are open."""
    for i in range(0, len(ids), BATCH):
        session.execute(
            update(Demand)
            .where(
                Demand.id.in_(ids[i : i + BATCH]),
                Demand.status == "closed",
                Demand.closed_reason == NO_LONGER_APPLIES,
            )
            .values(status="open", closed_reason=None, status_changed_at=now)
        )


def close_demands(session: Session, ids: Sequence[str], reason: str, now: datetime) -> None:
    """Open demands whose tag no longer holds."""
    for i in range(0, len(ids), BATCH):
        session.execute(
            update(Demand)
            .where(Demand.id.in_(ids[i : i + BATCH]), Demand.status == "open")
            .values(status="closed", closed_reason=reason, status_changed_at=now)
        )


def list_demands(
    session: Session,
    jurisdiction: str | None,
    *,
    status: str | None,
    tag: str | None,
    service: str | None,
    community: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[Demand]]:
    """Demands inside a jurisdiction (None = all), filtered, by priority then id."""
    stmt = select(Demand)
    if jurisdiction is not None:
        stmt = stmt.where(Demand.community_code.like(region_prefix(jurisdiction) + "%"))
    if community:
        stmt = stmt.where(Demand.community_code.like(region_prefix(community) + "%"))
    for column, value in ((Demand.status, status), (Demand.tag, tag), (Demand.service, service)):
        if value:
            stmt = stmt.where(column == value)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(Demand.priority, Demand.id).limit(limit).offset(offset))
    return total, list(items)


def open_demand_rows(session: Session, jurisdiction: str | None) -> list[tuple[Any, ...]]:
    """``(person_id, tag, service, community_code)`` of every open demand in a jurisdiction."""
    stmt = select(Demand.person_id, Demand.tag, Demand.service, Demand.community_code).where(
        Demand.status == "open"
    )
    if jurisdiction is not None:
        stmt = stmt.where(Demand.community_code.like(region_prefix(jurisdiction) + "%"))
    return [tuple(row) for row in session.execute(stmt)]


def demand_arrival_rows(session: Session, jurisdiction: str | None) -> list[tuple[Any, ...]]:
    """``(community_code, service, first_seen_at, demands)`` over every demand in a
    jurisdiction, any status (a demand counts when it first appeared). Grouped in the
    database: one profiling run stamps all the demands it opens with the same instant."""
    stmt = (
        select(Demand.community_code, Demand.service, Demand.first_seen_at, func.count())
        .where(Demand.community_code.is_not(None))
        .group_by(Demand.community_code, Demand.service, Demand.first_seen_at)
    )
    if jurisdiction is not None:
        stmt = stmt.where(Demand.community_code.like(region_prefix(jurisdiction) + "%"))
    return [tuple(row) for row in session.execute(stmt)]
