"""API shapes of the assessments domain. Times are shown in city time (UTC+8) with the offset.

Barthel answers are a mapping of item code → score; they are checked against ``barthel.yaml``
by the service (every problem named in one 422), not here, so that the form and the API give
the same answer.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from carematch.assessments.models import Assessment, HomeVisit, NeedsQuestionnaire
from carematch.assessments.service import QuestionnaireResult, VisitResult
from carematch.providers.hours import CITY_TZ

Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
NeedCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Note = Annotated[str, StringConstraints(max_length=2000)]
# Item codes are checked by the service; the shape here keeps control characters out.
Answers = dict[Annotated[str, StringConstraints(max_length=32)], int]


def city_time(at: datetime) -> datetime:
    """A stored time in city time (SQLite returns UTC wall time without an offset)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return aware.astimezone(CITY_TZ)


class AssessmentCreate(BaseModel):
    """A Barthel assessment of a person: all ten items, each with an allowed score."""

    person_id: Id
    answers: Answers
    assessed_at: datetime | None = Field(
        default=None, description="when it was made (default: now)"
    )


class AssessmentPublic(BaseModel):
    """A recorded assessment with its total and the disability level it grades to."""

    id: str
    person_id: str
    instrument: str
    answers: dict[str, int]
    total: int
    disability_level: int
    assessed_at: datetime
    assessed_by: str
    home_visit_id: str | None

    @classmethod
    def of(cls, row: Assessment) -> AssessmentPublic:
        return cls(
            id=row.id,
            person_id=row.person_id,
            instrument=row.instrument,
            answers=json.loads(row.answers),
            total=row.total,
            disability_level=row.disability_level,
            assessed_at=city_time(row.assessed_at),
            assessed_by=row.assessed_by,
            home_visit_id=row.home_visit_id,
        )


class AssessmentsPublic(BaseModel):
    items: list[AssessmentPublic]
    total: int
    limit: int
    offset: int


class HomeVisitCreate(BaseModel):
    """A home visit. ``kind`` follows from a grid worker's or doctor's role (officials give
    it); ``idempotency_key`` is made once by the client, so a retried request counts once."""

    person_id: Id
    kind: Literal["grid_worker", "family_doctor"] | None = None
    visited_at: datetime | None = None
    lives_alone: bool | None = None
    needs: list[NeedCode] = Field(default_factory=list, max_length=50)
    note: Note | None = None
    barthel: Answers | None = None
    idempotency_key: Key | None = None


class HomeVisitPublic(BaseModel):
    """A recorded visit (the note is returned to those who may read the person's record)."""

    id: str
    person_id: str
    visitor_user_id: str
    kind: str
    visited_at: datetime
    lives_alone: bool | None
    needs: list[str]
    note: str | None
    assessment: AssessmentPublic | None = None
    created: bool = True

    @classmethod
    def of(cls, visit: HomeVisit, assessment: Assessment | None = None) -> HomeVisitPublic:
        return cls(
            id=visit.id,
            person_id=visit.person_id,
            visitor_user_id=visit.visitor_user_id,
            kind=visit.kind,
            visited_at=city_time(visit.visited_at),
            lives_alone=visit.lives_alone,
            needs=visit.needs.split(),
            note=visit.note,
            assessment=AssessmentPublic.of(assessment) if assessment else None,
        )

    @classmethod
    def of_result(cls, result: VisitResult) -> HomeVisitPublic:
        shown = cls.of(result.visit, result.assessment)
        shown.created = result.created
        return shown


class HomeVisitsPublic(BaseModel):
    items: list[HomeVisitPublic]
    total: int
    limit: int
    offset: int


class QuestionnaireCreate(BaseModel):
    """A needs questionnaire: a resident's own (``person_id`` may be left out) or entered by
    staff for a person of their jurisdiction."""

    person_id: Id | None = None
    needs: list[NeedCode] = Field(default_factory=list, max_length=50)
    other: Note | None = None
    idempotency_key: Key | None = None


class QuestionnairePublic(BaseModel):
    id: str
    person_id: str
    channel: str
    needs: list[str]
    other: str | None
    submitted_at: datetime
    created: bool

    @classmethod
    def of(cls, result: QuestionnaireResult) -> QuestionnairePublic:
        row: NeedsQuestionnaire = result.questionnaire
        return cls(
            id=row.id,
            person_id=row.person_id,
            channel=row.channel,
            needs=row.needs.split(),
            other=row.other,
            submitted_at=city_time(row.submitted_at),
            created=result.created,
        )
