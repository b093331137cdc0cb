"""Use cases of pre-screening (预检) and its review queue: screen, read, list, decide.

A resident screens themselves or a registered dependant (the booking domain's rule); staff
screen persons of their jurisdiction. The record part of the screening (conditions, pregnancy,
other live vaccines, age) is read through the identity, profiling and vaccination services, so
every read is audited. Screenings whose table marks the person high-risk wait in a vaccinator's
queue; the decision is audited and kept beside the automatic outcome. Services flush; the
caller commits.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carematch.booking.service import bookable_person, own_persons
from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.identity import service as identity
from carematch.identity.models import Person
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix
from carematch.vaccination.forecast import GivenDose
from carematch.vaccination.prescreen import (
    CONTRAINDICATED,
    DEFER,
    NEEDS_REVIEW,
    PASS,
    PrescreenTable,
    RecordFacts,
    Screening,
    shipped_table,
)
from carematch.vaccination.safety_models import DECISIONS, Prescreening
from carematch.vaccination.schedule import Schedule
from carematch.vaccination.service import city_schedule, doses_of

DECISION_OUTCOME = {"approve": PASS, "defer": DEFER, "contraindicate": CONTRAINDICATED}
"""The outcome in force after a reviewer's decision."""
REVIEWERS = ("vaccinator",)
"""Who decides in the review queue (admin too, as everywhere)."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class PrescreeningNotFound(NotFound):
    """No such screening, or not the caller's to see."""

    type = "/problems/prescreening-not-found"
    title = "Pre-screening not found"


class ReviewNotPending(Conflict):
    """The screening is not waiting for a review (none was required, or it is decided)."""

    type = "/problems/review-not-pending"
    title = "No review pending"


def table() -> PrescreenTable:
    """This installation's pre-screening table, checked against its schedule."""
    return shipped_table(city_schedule())


def months_between(born: date, on: date) -> int:
    """Whole months of age on ``on`` (a month is complete on the same day of the month)."""
    months = (on.year - born.year) * 12 + on.month - born.month
    return months - 1 if on.day < born.day else months


def days_since_other_live(
    schedule: Schedule, series_code: str, doses: list[GivenDose], on: date
) -> int | None:
    """Days since the latest dose of another live injectable series given before ``on``."""
    live = {s.code for s in schedule.series if s.live_injectable and s.code != series_code}
    days = [(on - d.date).days for d in doses if d.series in live and d.date < on]
    return min(days) if days else None


def _conditions(session: Session, person_id: str, on: date) -> frozenset[str]:
    """The person's condition codes (with ``pregnancy``) from the profiling features view."""
    from carematch.profiling.service import features_for

    rows = features_for(session, [person_id], on).to_pylist()
    if not rows:
        return frozenset()
    codes = set(rows[0].get("conditions") or ())
    if rows[0].get("is_pregnant"):
        codes.add("pregnancy")
    return frozenset(codes)


def record_facts(
    session: Session, principal: Principal, person_id: str, series_code: str, on: date
) -> tuple[Person, RecordFacts]:
    """The person and what their record says for a screening on ``on``; the read is audited."""
    person, records = identity.read_person(session, principal, person_id)
    doses, _ = doses_of(records)
    return person, RecordFacts(
        conditions=_conditions(session, person_id, on),
        days_since_other_live=days_since_other_live(city_schedule(), series_code, doses, on),
        age_months=months_between(person.birth_date, on) if person.birth_date else None,
    )


@dataclass(frozen=True)
class ScreeningView:
    """A stored screening with its answers and findings decoded."""

    row: Prescreening
    answers: dict[str, bool | None]
    findings: list[dict[str, str]]


def view(row: Prescreening) -> ScreeningView:
    """Decode a stored screening."""
    return ScreeningView(row, json.loads(row.answers), json.loads(row.findings))


def _findings_json(result: Screening) -> str:
    return json.dumps(
        [
            {
                "rule": f.rule,
                "outcome": f.outcome,
                "reason_zh": f.reason_zh,
                "reason_en": f.reason_en,
            }
            for f in result.findings
        ],
        ensure_ascii=False,
    )


def screen_person(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    series: str,
    answers: dict[str, bool | None],
    now: datetime | None = None,
) -> ScreeningView:
    """Screen a person for a dose of ``series`` from the questionnaire and their record.

    Raises:
        PersonNotFound: not the caller's to act for (404).
        InvalidInput: unknown series or question (400).
    """
    now = now or utcnow()
    person_id = bookable_person(session, principal, person_id)
    rules = table()
    if rules.schedule.position(series) is None:
        raise InvalidInput(f"unknown vaccine series {series!r}")
    on = now.astimezone(CITY_TZ).date()
    person, facts = record_facts(session, principal, person_id, series, on)
    result = rules.screen(series, answers, facts)
    status = NEEDS_REVIEW if result.review_required else result.outcome
    row = Prescreening(
        id=new_id(),
        person_id=person_id,
        series=series,
        region_code=person.community_code,
        answers=json.dumps({k: answers.get(k) for k in rules.question_keys}),
        findings=_findings_json(result),
        outcome=result.outcome,
        suggested=result.suggested,
        review_required=result.review_required,
        status=status,
        created_by=principal.username,
        created_at=now,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="prescreen_vaccination",
        entity="person",
        entity_id=person_id,
        detail={"prescreening": row.id, "series": series, "outcome": result.outcome},
    )
    return view(row)


def _may_see(session: Session, principal: Principal, row: Prescreening) -> bool:
    if principal.role == "resident":
        return row.person_id in own_persons(session, principal)
    return principal.can_see(row.region_code)


def get_screening(session: Session, principal: Principal, screening_id: str) -> ScreeningView:
    """One screening the caller may see; the read is audited.

    Raises:
        PrescreeningNotFound: no such screening, or outside the caller's reach (404).
    """
    row = session.get(Prescreening, screening_id) if _ID.match(screening_id) else None
    if row is None or not _may_see(session, principal, row):
        raise PrescreeningNotFound(f"no pre-screening {screening_id}")
    audit.record(
        session,
        actor=principal.username,
        action="read_prescreening",
        entity="person",
        entity_id=row.person_id,
        detail={"prescreening": row.id},
    )
    return view(row)


def list_screenings(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ScreeningView], int]:
    """Screenings of the caller's jurisdiction (a resident's own and dependants'), newest
    first, with the total; the list is audited."""
    where: list[Any] = []
    if principal.role == "resident":
        where.append(Prescreening.person_id.in_(own_persons(session, principal)))
    elif principal.jurisdiction is not None:
        prefix = region_prefix(principal.jurisdiction)
        where.append(Prescreening.region_code.startswith(prefix, autoescape=True))
    if status is not None:
        where.append(Prescreening.status == status)
    total = session.scalar(select(func.count()).select_from(Prescreening).where(*where)) or 0
    rows = session.scalars(
        select(Prescreening)
        .where(*where)
        .order_by(Prescreening.created_at.desc(), Prescreening.id)
        .limit(limit)
        .offset(offset)
    ).all()
    audit.record(
        session,
        actor=principal.username,
        action="list_prescreenings",
        entity="prescreening",
        entity_id="*",
        detail={"status": status, "count": len(rows), "offset": offset},
    )
    return [view(r) for r in rows], total


def decide(
    session: Session,
    principal: Principal,
    screening_id: str,
    *,
    decision: str,
    note: str,
    now: datetime | None = None,
) -> ScreeningView:
    """A vaccinator's decision on a screening waiting for review; audited with the automatic
    outcome beside it.

    Raises:
        PrescreeningNotFound: outside the caller's jurisdiction (404).
        InvalidInput: an unknown decision or a blank note (400).
        ReviewNotPending: no review was required, or it was decided already (409).
    """
    if decision not in DECISIONS:
        raise InvalidInput(f"decision must be one of {', '.join(DECISIONS)}")
    note = note.strip()
    if not note:
        raise InvalidInput("a decision needs a note saying why")
    row = session.get(Prescreening, screening_id) if _ID.match(screening_id) else None
    if row is None or principal.role == "resident" or not principal.can_see(row.region_code):
        raise PrescreeningNotFound(f"no pre-screening {screening_id}")
    if row.status != NEEDS_REVIEW or row.decision is not None:
        raise ReviewNotPending(f"pre-screening {screening_id} is not waiting for a review")
    row.decision = decision
    row.decision_note = note
    row.decided_by = principal.username
    row.decided_at = now or utcnow()
    row.status = DECISION_OUTCOME[decision]
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="review_prescreening",
        entity="person",
        entity_id=row.person_id,
        detail={
            "prescreening": row.id,
            "automatic": row.outcome,
            "suggested": row.suggested,
            "decision": decision,
        },
    )
    return view(row)


def review_agreement(session: Session, principal: Principal) -> tuple[int, int]:
    """(decided reviews whose outcome equals the machine's suggestion, decided reviews) in the
    caller's jurisdiction: the pre-screen accuracy indicator's numerator and denominator."""
    where: list[Any] = [Prescreening.decision.is_not(None)]
    if principal.jurisdiction is not None:
        prefix = region_prefix(principal.jurisdiction)
        where.append(Prescreening.region_code.startswith(prefix, autoescape=True))
    rows = session.execute(select(Prescreening.suggested, Prescreening.status).where(*where)).all()
    return sum(1 for suggested, status in rows if suggested == status), len(rows)
