"""Every query of the matching domain (cohort allocation runs and proposals)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, insert, select, update
from sqlalchemy.orm import Session

from carematch.matching.models import LIVE_STATUSES, AllocationRun, Proposal
from carematch.security.jurisdiction import region_prefix

BATCH = 5_000


def _in_area(jurisdiction: str | None) -> ColumnElement[bool] | None:
    """Runs drawn from inside a jurisdiction (None: no restriction)."""
    if jurisdiction is None:
        return None
    return AllocationRun.region_code.like(region_prefix(jurisdiction) + "%")


def persons_holding(session: Session, service: str, person_ids: Sequence[str]) -> set[str]:
    """Which of these persons hold a live (proposed or confirmed) proposal for the service."""
    held: set[str] = set()
    for i in range(0, len(person_ids), BATCH):
        held.update(
            session.scalars(
                select(Proposal.person_id)
                .where(
                    Proposal.service == service,
                    Proposal.status.in_(LIVE_STATUSES),
                    Proposal.person_id.in_(person_ids[i : i + BATCH]),
                )
                .distinct()
            )
        )
    return held


def capacity_held(session: Session, service: str, since: datetime) -> dict[str, int]:
    """Live proposals per provider for the service, from runs started at or after ``since``."""
    rows = session.execute(
        select(Proposal.provider_id, func.count())
        .join(AllocationRun, AllocationRun.id == Proposal.run_id)
        .where(
            Proposal.service == service,
            Proposal.status.in_(LIVE_STATUSES),
            Proposal.provider_id.is_not(None),
            AllocationRun.created_at >= since,
        )
        .group_by(Proposal.provider_id)
    )
    return {provider: count for provider, count in rows if provider is not None}


def insert_proposals(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert a run's proposals in batches (a cohort may hold a district's every child)."""
    for i in range(0, len(rows), BATCH):
        session.execute(insert(Proposal), list(rows[i : i + BATCH]))


def get_run(session: Session, run_id: str) -> AllocationRun | None:
    return session.get(AllocationRun, run_id)


def list_runs(
    session: Session, jurisdiction: str | None, limit: int, offset: int
) -> tuple[int, list[AllocationRun]]:
    """Runs drawn from inside a jurisdiction (None = all), newest first, with the total."""
    stmt = select(AllocationRun)
    area = _in_area(jurisdiction)
    if area is not None:
        stmt = stmt.where(area)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(
        stmt.order_by(AllocationRun.created_at.desc(), AllocationRun.id).limit(limit).offset(offset)
    )
    return total, list(items)


def list_proposals(
    session: Session, run_id: str, status: str | None, limit: int, offset: int
) -> tuple[int, list[Proposal]]:
    """A run's proposals in the order the run placed them, optionally of one status."""
    stmt = select(Proposal).where(Proposal.run_id == run_id)
    if status is not None:
        stmt = stmt.where(Proposal.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    items = session.scalars(stmt.order_by(Proposal.seq).limit(limit).offset(offset))
    return total, list(items)


def status_counts(session: Session, run_id: str) -> dict[str, int]:
    """How many of a run's proposals are in each status."""
    rows = session.execute(
        select(Proposal.status, func.count())
        .where(Proposal.run_id == run_id)
        .group_by(Proposal.status)
    )
    return {status: count for status, count in rows}


def proposals_by_id(session: Session, run_id: str, ids: Sequence[str]) -> dict[str, Proposal]:
    """The run's proposals among these ids (ids of other runs are simply absent)."""
    found: dict[str, Proposal] = {}
    for i in range(0, len(ids), BATCH):
        for proposal in session.scalars(
            select(Proposal).where(Proposal.run_id == run_id, Proposal.id.in_(ids[i : i + BATCH]))
        ):
            found[proposal.id] = proposal
    return found


def decide(
    session: Session,
    run_id: str,
    ids: Sequence[str] | None,
    status: str,
    actor: str,
    now: datetime,
) -> list[str]:
    """Move proposals still ``proposed`` to ``status``; the ids of those that moved.

    ``ids`` None means every proposal of the run. The ``status == 'proposed'`` condition sits
    in the UPDATE itself, so two officials deciding at once never both change one proposal.
    """
    # The ids that will move are read first (RETURNING with executemany is not portable).
    stmt = select(Proposal.id).where(Proposal.run_id == run_id, Proposal.status == "proposed")
    chunks = [None] if ids is None else [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    moved: list[str] = []
    for chunk in chunks:
        query = stmt if chunk is None else stmt.where(Proposal.id.in_(chunk))
        wanted = list(session.scalars(query.order_by(Proposal.seq)))
        if not wanted:
            continue
        for j in range(0, len(wanted), BATCH):
            part = wanted[j : j + BATCH]
            result = session.execute(
                update(Proposal)
                .where(Proposal.id.in_(part), Proposal.status == "proposed")
                .values(status=status, decided_by=actor, decided_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(result, "rowcount", len(part)) != len(part):
                # Someone decided some of them between our read and our write: read again
                # which ones are ours.
                part = list(
                    session.scalars(
                        select(Proposal.id).where(
                            Proposal.id.in_(part),
                            Proposal.status == status,
                            Proposal.decided_at == now,
                            Proposal.decided_by == actor,
                        )
                    )
                )
            moved.extend(part)
    session.expire_all()
    return moved
