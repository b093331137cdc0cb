"""Use cases of assessments: record a Barthel assessment, a home visit, a needs questionnaire;
read a person's; hand profiling what they report.

Who may act for whom: staff for persons of their jurisdiction, a resident for themselves only
(anyone else is "not found", so that existence is not revealed). Reads of a person's records
are audited. Services flush; the edge (endpoint, page, CLI) commits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carematch.assessments import repository
from carematch.assessments.barthel import barthel
from carematch.assessments.errors import (
    AssessmentPersonNotFound,
    InvalidAnswers,
    UnknownNeeds,
    VisitRefused,
)
from carematch.assessments.models import Assessment, HomeVisit, NeedsQuestionnaire
from carematch.assessments.needs import normalise, unknown_needs
from carematch.core.clock import utcnow
from carematch.core.errors import NotFound
from carematch.core.ids import new_id
from carematch.identity.models import Person
from carematch.identity.service import visible_person
from carematch.security import audit
from carematch.security.authz import Principal

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# A visit or an assessment may be recorded a little ahead of the server's clock (a phone's
# clock runs fast), never in the future beyond that.
CLOCK_SKEW = timedelta(minutes=5)
# The visit kind each visiting role records; officials (and admin) say which.
KIND_OF_ROLE = {"grid_worker": "grid_worker", "doctor": "family_doctor"}
# Nothing is recorded as having happened before this (a typo in the year, not history).
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _utc(at: datetime) -> datetime:
    """A stored or given time as aware UTC (SQLite returns UTC wall time without an offset)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def acting_for(session: Session, principal: Principal, person_id: str) -> Person:
    """The person the principal may record or read assessments for.

    Raises:
        AssessmentPersonNotFound: a malformed id, no such person, outside the jurisdiction, or
            (for a resident) anyone but themselves.
    """
    if not ID_PATTERN.match(person_id):
        raise AssessmentPersonNotFound(f"no person {person_id!r}")
    if principal.role == "resident" and person_id != principal.person_id:
        raise AssessmentPersonNotFound(f"no person {person_id}")
    try:
        return visible_person(session, principal, person_id)
    except NotFound:
        raise AssessmentPersonNotFound(f"no person {person_id}") from None


def _when(at: datetime | None) -> datetime:
    now = utcnow()
    if at is None:
        return now
    try:
        at = _utc(at)
    except (OverflowError, ValueError):  # 0001-01-01 with a positive offset, say
        raise VisitRefused("the time is not a valid moment") from None
    if at > now + CLOCK_SKEW:
        raise VisitRefused("the time lies in the future")
    if at < EARLIEST:
        raise VisitRefused(f"the time lies before {EARLIEST:%Y}")
    return at


def check_answers(answers: Mapping[str, Any]) -> dict[str, int]:
    """Barthel answers that can be scored, or every reason they cannot.

    Raises:
        InvalidAnswers: unknown item, missing item, disallowed score.
    """
    problems = barthel().problems(answers)
    if problems:
        raise InvalidAnswers(problems)
    return {item.code: int(answers[item.code]) for item in barthel().items}


def check_needs(codes: list[str]) -> list[str]:
    """Need codes in catalogue order, each once.

    Raises:
        UnknownNeeds: a code not in ``needs.yaml``.
    """
    unknown = unknown_needs(codes)
    if unknown:
        raise UnknownNeeds(unknown)
    return normalise(codes)


def _new_assessment(
    principal: Principal,
    person: Person,
    answers: dict[str, int],
    at: datetime,
    home_visit_id: str | None = None,
) -> Assessment:
    scale = barthel()
    total = scale.total(answers)
    return Assessment(
        id=new_id(),
        person_id=person.id,
        instrument=scale.instrument,
        answers=json.dumps(answers, sort_keys=True),
        total=total,
        disability_level=scale.level(total),
        assessed_at=at,
        assessed_by=principal.user_id,
        region_code=person.community_code,
        home_visit_id=home_visit_id,
    )


def record_assessment(
    session: Session,
    principal: Principal,
    person_id: str,
    answers: Mapping[str, Any],
    assessed_at: datetime | None = None,
) -> Assessment:
    """Score and keep a Barthel assessment; its level becomes the person's disability level
    at the next profiling run."""
    person = acting_for(session, principal, person_id)
    checked = check_answers(answers)
    row = _new_assessment(principal, person, checked, _when(assessed_at))
    repository.add(session, row)
    audit.record(
        session,
        actor=principal.username,
        action="record_assessment",
        entity="person",
        entity_id=person.id,
        detail={"assessment": row.id, "total": row.total, "level": row.disability_level},
    )
    return row


def list_assessments(
    session: Session, principal: Principal, person_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[Assessment]]:
    """A person's assessments, latest first; the read is audited."""
    person = acting_for(session, principal, person_id)
    total, rows = repository.assessments_of(session, person.id, limit, offset)
    audit.record(
        session,
        actor=principal.username,
        action="read_assessments",
        entity="person",
        entity_id=person.id,
        detail={"count": len(rows)},
    )
    return total, rows


def list_visits(
    session: Session, principal: Principal, person_id: str, *, limit: int = 50, offset: int = 0
) -> tuple[int, list[HomeVisit]]:
    """A person's home visits, latest first; the read is audited."""
    person = acting_for(session, principal, person_id)
    total, rows = repository.visits_of(session, person.id, limit, offset)
    audit.record(
        session,
        actor=principal.username,
        action="read_home_visits",
        entity="person",
        entity_id=person.id,
        detail={"count": len(rows)},
    )
    return total, rows


@dataclass(frozen=True)
class VisitResult:
    """A recorded visit, its assessment if one was made, and whether this call made them
    (False: the same form was sent before, and this is what it recorded)."""

    visit: HomeVisit
    assessment: Assessment | None
    created: bool


def _visit_kind(principal: Principal, kind: str | None) -> str:
    own = KIND_OF_ROLE.get(principal.role)
    if own is None:  # official or admin: must say which kind of visit it was
        if kind is None:
            raise VisitRefused("say whether a grid worker or a family doctor visited")
        return kind
    if kind is not None and kind != own:
        raise VisitRefused(f"a {principal.role} records {own} visits, not {kind}")
    return own


def record_home_visit(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    kind: str | None = None,
    visited_at: datetime | None = None,
    lives_alone: bool | None = None,
    needs: list[str] | None = None,
    note: str | None = None,
    barthel_answers: Mapping[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> VisitResult:
    """Keep a home visit (and the Barthel assessment made on it, if any).

    With an idempotency key already used by this visitor, nothing new is written and the
    visit recorded then is returned: a form re-sent on a slow connection counts once, even when
    the two copies race (the database's unique key decides).

    Raises:
        AssessmentPersonNotFound: the person is not the caller's to visit.
        VisitRefused: the kind does not match the caller's role, or the time is in the future.
        UnknownNeeds, InvalidAnswers: needs or answers that are not in the lists.
    """
    if idempotency_key:
        earlier = _earlier_visit(session, principal, idempotency_key)
        if earlier is not None:
            return earlier
    person = acting_for(session, principal, person_id)
    visit_kind = _visit_kind(principal, kind)
    codes = check_needs(needs or [])
    answers = check_answers(barthel_answers) if barthel_answers is not None else None
    at = _when(visited_at)
    visit = HomeVisit(
        id=new_id(),
        person_id=person.id,
        visitor_user_id=principal.user_id,
        kind=visit_kind,
        visited_at=at,
        lives_alone=lives_alone,
        needs=" ".join(codes),
        note=(note or "").strip() or None,
        region_code=person.community_code,
        idempotency_key=idempotency_key or None,
    )
    if not repository.add_once(session, visit):
        # The same form, sent twice at once: the other copy was recorded first.
        again = _earlier_visit(session, principal, idempotency_key or "")
        if again is None:  # pragma: no cover - the unique key is the only one that can clash
            raise VisitRefused("the visit could not be recorded")
        return again
    assessment = None
    if answers is not None:
        assessment = _new_assessment(principal, person, answers, at, home_visit_id=visit.id)
        repository.add(session, assessment)
    audit.record(
        session,
        actor=principal.username,
        action="record_home_visit",
        entity="person",
        entity_id=person.id,
        detail={
            "visit": visit.id,
            "kind": visit_kind,
            "needs": codes,
            "assessment": assessment.id if assessment else None,
        },
    )
    return VisitResult(visit, assessment, True)


def _earlier_visit(session: Session, principal: Principal, key: str) -> VisitResult | None:
    visit = repository.visit_by_key(session, principal.user_id, key)
    if visit is None:
        return None
    return VisitResult(visit, repository.assessment_of_visit(session, visit.id), False)


@dataclass(frozen=True)
class QuestionnaireResult:
    """A kept questionnaire and whether this call made it (False: a re-sent form)."""

    questionnaire: NeedsQuestionnaire
    created: bool


def submit_questionnaire(
    session: Session,
    principal: Principal,
    *,
    person_id: str | None,
    needs: list[str],
    other: str | None = None,
    idempotency_key: str | None = None,
) -> QuestionnaireResult:
    """Keep a needs questionnaire: a resident's own (``person_id`` may be left out), or one
    staff enter for a person of their jurisdiction.

    Raises:
        AssessmentPersonNotFound: a resident naming anyone else, a resident with no linked
            record, or a person outside the staff member's jurisdiction.
        UnknownNeeds: a need not in the list.
    """
    if idempotency_key:
        earlier = repository.questionnaire_by_key(session, principal.user_id, idempotency_key)
        if earlier is not None:
            return QuestionnaireResult(earlier, False)
    resident = principal.role == "resident"
    if person_id is None:
        if not resident or principal.person_id is None:
            raise AssessmentPersonNotFound("name the person the questionnaire is for")
        person_id = principal.person_id
    person = acting_for(session, principal, person_id)
    codes = check_needs(needs)
    row = NeedsQuestionnaire(
        id=new_id(),
        person_id=person.id,
        channel="self" if resident else "staff",
        needs=" ".join(codes),
        other=(other or "").strip() or None,
        submitted_by=principal.user_id,
        submitted_at=utcnow(),
        region_code=person.community_code,
        idempotency_key=idempotency_key or None,
    )
    if not repository.add_once(session, row):
        again = repository.questionnaire_by_key(session, principal.user_id, idempotency_key or "")
        if again is None:  # pragma: no cover - the unique key is the only one that can clash
            raise UnknownNeeds([])
        return QuestionnaireResult(again, False)
    audit.record(
        session,
        actor=principal.username,
        action="submit_questionnaire",
        entity="person",
        entity_id=person.id,
        detail={"questionnaire": row.id, "channel": row.channel, "needs": codes},
    )
    return QuestionnaireResult(row, True)


def latest_questionnaire(session: Session, principal: Principal) -> NeedsQuestionnaire | None:
    """A resident's own latest questionnaire (to fill the portal form with what they said)."""
    if principal.person_id is None:
        return None
    _, rows = repository.questionnaires_of(session, principal.person_id, 1, 0)
    return rows[0] if rows else None


def _naive_utc(at: datetime) -> datetime:
    return _utc(at).replace(tzinfo=None)


def profile_rows(session: Session, person_ids: list[str] | None) -> dict[str, list[dict[str, Any]]]:
    """What this domain adds to the profile inputs, as rows of profiling's recorded sources.

    ``assessment`` (each assessment's disability level), ``home_visit`` (each visit's
    observation of living alone) and ``reported_need`` (each questionnaire's and visit's need
    codes, with the channel). Times are naive UTC, as both feature engines compare them.
    Batch work with no principal: the profiling run is the caller.
    """
    assessments = [
        {
            "person_id": r.person_id,
            "record_id": r.id,
            "assessed_at": _naive_utc(r.assessed_at),
            "disability_level": r.disability_level,
        }
        for r in repository.assessment_rows(session, person_ids)
    ]
    visits, needs = [], []
    for r in repository.visit_rows(session, person_ids):
        at = _naive_utc(r.visited_at)
        visits.append(
            {
                "person_id": r.person_id,
                "record_id": r.id,
                "visited_at": at,
                "lives_alone": r.lives_alone,
            }
        )
        needs.append(
            {
                "person_id": r.person_id,
                "record_id": r.id,
                "reported_at": at,
                "channel": "visit",
                "needs": r.needs.split(),
            }
        )
    for r in repository.questionnaire_rows(session, person_ids):
        needs.append(
            {
                "person_id": r.person_id,
                "record_id": r.id,
                "reported_at": _naive_utc(r.submitted_at),
                "channel": "questionnaire",
                "needs": r.needs.split(),
            }
        )
    return {"assessment": assessments, "home_visit": visits, "reported_need": needs}
