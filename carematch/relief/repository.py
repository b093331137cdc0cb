"""Every query of the relief domain."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from carematch.relief.models import (
    ReliefCase,
    ReliefCaseEvent,
    ReliefFund,
    ReliefFundEntry,
    ReliefHousehold,
)
from carematch.security.jurisdiction import region_prefix

FUND_ID = "city"
"""The one relief fund of the installation (防返贫救助基金)."""


def _scoped(stmt: Select, column: object, jurisdiction: str | None) -> Select:
    if jurisdiction is None:
        return stmt
    return stmt.where(column.like(region_prefix(jurisdiction) + "%"))  # type: ignore[attr-defined]


def households(session: Session) -> dict[str, ReliefHousehold]:
    """Every watched household by id."""
    return {h.household_id: h for h in session.scalars(select(ReliefHousehold))}


def households_in(
    session: Session, jurisdiction: str | None, *, at_risk: bool | None = None
) -> list[ReliefHousehold]:
    """Watched households inside a jurisdiction (all, or only those at risk)."""
    stmt = _scoped(select(ReliefHousehold), ReliefHousehold.region_code, jurisdiction)
    if at_risk is not None:
        stmt = stmt.where(ReliefHousehold.at_risk.is_(at_risk))
    return list(session.scalars(stmt.order_by(ReliefHousehold.region_code)))


def open_cases_by_household(
    session: Session, household_ids: Sequence[str]
) -> dict[str, ReliefCase]:
    """The cases still waiting for verification, by household (the figures they follow)."""
    out: dict[str, ReliefCase] = {}
    if not household_ids:
        return out
    for case in session.scalars(
        select(ReliefCase).where(
            ReliefCase.status == "triggered", ReliefCase.household_id.in_(list(household_ids))
        )
    ):
        out[case.household_id] = case
    return out


def list_cases(
    session: Session,
    jurisdiction: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[int, list[ReliefCase]]:
    """Cases inside a jurisdiction, newest first, with the total count."""
    stmt = _scoped(select(ReliefCase), ReliefCase.region_code, jurisdiction)
    if status is not None:
        stmt = stmt.where(ReliefCase.status == status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(ReliefCase.opened_at.desc(), ReliefCase.id).limit(limit).offset(offset)
    )
    return total, list(rows)


def get_case(session: Session, case_id: str) -> ReliefCase | None:
    return session.get(ReliefCase, case_id)


def case_events(session: Session, case_id: str) -> list[ReliefCaseEvent]:
    return list(
        session.scalars(
            select(ReliefCaseEvent)
            .where(ReliefCaseEvent.case_id == case_id)
            .order_by(ReliefCaseEvent.seq)
        )
    )


def next_event_seq(session: Session, case_id: str) -> int:
    last = session.scalar(
        select(func.max(ReliefCaseEvent.seq)).where(ReliefCaseEvent.case_id == case_id)
    )
    return (last or 0) + 1


def move_case(
    session: Session, case_id: str, from_status: Sequence[str], values: dict[str, object]
) -> bool:
    """Change a case only if it is still in one of ``from_status`` (no lost update)."""
    result = session.execute(
        update(ReliefCase)
        .where(ReliefCase.id == case_id, ReliefCase.status.in_(list(from_status)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def fund(session: Session, now: datetime) -> ReliefFund:
    """The fund's row, created empty the first time."""
    row = session.get(ReliefFund, FUND_ID)
    if row is None:
        row = ReliefFund(id=FUND_ID, balance_fen=0, updated_at=now)
        session.add(row)
        session.flush()
    return row


def credit_fund(session: Session, fen: int, now: datetime) -> int:
    """Add to the balance; return the new balance."""
    fund(session, now)
    return int(
        session.execute(
            update(ReliefFund)
            .where(ReliefFund.id == FUND_ID)
            .values(balance_fen=ReliefFund.balance_fen + fen, updated_at=now)
            .returning(ReliefFund.balance_fen)
            .execution_options(synchronize_session=False)
        ).scalar_one()
    )


def debit_fund(session: Session, fen: int, now: datetime) -> int | None:
    """Take from the balance only if it holds enough (one statement); the new balance or None."""
    fund(session, now)
    return session.execute(
        update(ReliefFund)
        .where(ReliefFund.id == FUND_ID, ReliefFund.balance_fen >= fen)
        .values(balance_fen=ReliefFund.balance_fen - fen, updated_at=now)
        .returning(ReliefFund.balance_fen)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()


def fund_entries(session: Session, limit: int, offset: int) -> tuple[int, list[ReliefFundEntry]]:
    total = session.scalar(select(func.count()).select_from(ReliefFundEntry)) or 0
    rows = session.scalars(
        select(ReliefFundEntry)
        .order_by(ReliefFundEntry.at.desc(), ReliefFundEntry.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return total, list(rows)
