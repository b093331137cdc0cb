"""Every query of the assessments domain.

A row is added inside a SAVEPOINT, so that a duplicate idempotency key (two copies of one
form post racing each other) rolls back only that insert and the caller can read the row the
other copy made, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from carematch.assessments.models import Assessment, HomeVisit, NeedsQuestionnaire

CHUNK = 500
Row = TypeVar("Row", Assessment, HomeVisit, NeedsQuestionnaire)


def _chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def add_once(session: Session, row: Row) -> bool:
    """Add and flush a row; False (and nothing added) when a unique key already holds it."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def add(session: Session, row: Any) -> None:
    """Add a new row and flush (so constraint violations surface here)."""
    session.add(row)
    session.flush()


def visit_by_key(session: Session, visitor_user_id: str, key: str) -> HomeVisit | None:
    """The visit a visitor recorded under an idempotency key, if any."""
    return session.scalar(
        select(HomeVisit).where(
            HomeVisit.visitor_user_id == visitor_user_id, HomeVisit.idempotency_key == key
        )
    )


def questionnaire_by_key(session: Session, user_id: str, key: str) -> NeedsQuestionnaire | None:
    """The questionnaire a user submitted under an idempotency key, if any."""
    return session.scalar(
        select(NeedsQuestionnaire).where(
            NeedsQuestionnaire.submitted_by == user_id, NeedsQuestionnaire.idempotency_key == key
        )
    )


def assessment_of_visit(session: Session, visit_id: str) -> Assessment | None:
    """The assessment made on a visit, if any."""
    return session.scalar(select(Assessment).where(Assessment.home_visit_id == visit_id))


def _page(session: Session, stmt: Any, order: Sequence[Any], limit: int, offset: int) -> Any:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.order_by(*order).limit(limit).offset(offset)).all()
    return int(total or 0), list(rows)


def assessments_of(
    session: Session, person_id: str, limit: int, offset: int
) -> tuple[int, list[Assessment]]:
    """A person's assessments, latest first."""
    stmt = select(Assessment).where(Assessment.person_id == person_id)
    return _page(session, stmt, (Assessment.assessed_at.desc(), Assessment.id), limit, offset)


def visits_of(
    session: Session, person_id: str, limit: int, offset: int
) -> tuple[int, list[HomeVisit]]:
    """A person's home visits, latest first."""
    stmt = select(HomeVisit).where(HomeVisit.person_id == person_id)
    return _page(session, stmt, (HomeVisit.visited_at.desc(), HomeVisit.id), limit, offset)


def questionnaires_of(
    session: Session, person_id: str, limit: int, offset: int
) -> tuple[int, list[NeedsQuestionnaire]]:
    """A person's questionnaires, latest first."""
    stmt = select(NeedsQuestionnaire).where(NeedsQuestionnaire.person_id == person_id)
    order = (NeedsQuestionnaire.submitted_at.desc(), NeedsQuestionnaire.id)
    return _page(session, stmt, order, limit, offset)


def _of_persons(session: Session, columns: Sequence[Any], person_ids: list[str] | None) -> Any:
    """Rows of the given columns, for all persons or for some (in chunks)."""
    person = columns[0].table.c.person_id
    if person_ids is None:
        yield from session.execute(select(*columns))
        return
    for chunk in _chunks(sorted(set(person_ids))):
        yield from session.execute(select(*columns).where(person.in_(chunk)))


def assessment_rows(session: Session, person_ids: list[str] | None) -> list[Any]:
    """(id, person, assessed_at, disability_level) of every assessment of these persons."""
    cols = (
        Assessment.__table__.c.person_id,
        Assessment.__table__.c.id,
        Assessment.__table__.c.assessed_at,
        Assessment.__table__.c.disability_level,
    )
    return list(_of_persons(session, cols, person_ids))


def visit_rows(session: Session, person_ids: list[str] | None) -> list[Any]:
    """(person, id, visited_at, lives_alone, needs) of every visit of these persons."""
    t = HomeVisit.__table__.c
    cols = (t.person_id, t.id, t.visited_at, t.lives_alone, t.needs)
    return list(_of_persons(session, cols, person_ids))


def questionnaire_rows(session: Session, person_ids: list[str] | None) -> list[Any]:
    """(person, id, submitted_at, needs) of every questionnaire of these persons."""
    t = NeedsQuestionnaire.__table__.c
    cols = (t.person_id, t.id, t.submitted_at, t.needs)
    return list(_of_persons(session, cols, person_ids))


def get_visit(session: Session, visit_id: str) -> HomeVisit | None:
    """A visit by id."""
    return session.get(HomeVisit, visit_id)
