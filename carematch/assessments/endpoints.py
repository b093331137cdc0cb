"""The assessments API under /api/v1; every route declares its authorisation (security.authz).

``POST /assessments`` (a Barthel assessment), ``GET /persons/{id}/assessments``,
``POST /home-visits``, ``GET /persons/{id}/home-visits`` and ``POST /questionnaires``.
Staff act for persons of their jurisdiction, residents for themselves only; anyone else is a
404 (existence is not revealed). Reads are audited. Answers that cannot be scored and unknown
needs are 422 problems naming every fault.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.assessments import service
from carematch.assessments.schemas import (
    AssessmentCreate,
    AssessmentPublic,
    AssessmentsPublic,
    HomeVisitCreate,
    HomeVisitPublic,
    HomeVisitsPublic,
    QuestionnaireCreate,
    QuestionnairePublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(tags=["assessments"])

# Those who assess capability: doctors, grid workers on a visit, civil affairs (民政, who run
# the elderly capability assessment) and officials.
ASSESSORS = ("official", "doctor", "grid_worker", "civil_affairs")
# Those who visit homes: grid workers and family doctors (officials record for them).
VISITORS = ("official", "doctor", "grid_worker")
# Those who enter a questionnaire for a person, as booking's registrars; residents their own.
QUESTIONNAIRE_TAKERS = ("official", "doctor", "grid_worker", "civil_affairs", "resident")
READERS = (*ASSESSORS, "resident")

Assessor = Annotated[Principal, Depends(require(*ASSESSORS))]
Visitor = Annotated[Principal, Depends(require(*VISITORS))]
Reader = Annotated[Principal, Depends(require(*READERS))]
VisitReader = Annotated[Principal, Depends(require(*VISITORS, "civil_affairs", "resident"))]
Taker = Annotated[Principal, Depends(require(*QUESTIONNAIRE_TAKERS))]

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "not a person the caller may act for", **_PROBLEM},
    422: {"description": "answers or needs that are not in the lists", **_PROBLEM},
}


@router.post("/assessments", response_model=AssessmentPublic, status_code=201, responses=RESPONSES)
def create_assessment(
    session: SessionDep, principal: Assessor, body: AssessmentCreate, response: Response
) -> AssessmentPublic:
    """Record a Barthel assessment: the total and disability level are computed here."""
    row = service.record_assessment(
        session, principal, body.person_id, body.answers, body.assessed_at
    )
    response.headers["Location"] = f"/api/v1/persons/{row.person_id}/assessments"
    return AssessmentPublic.of(row)


@router.get(
    "/persons/{person_id}/assessments", response_model=AssessmentsPublic, responses=RESPONSES
)
def list_assessments(
    session: SessionDep,
    principal: Reader,
    person_id: str,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AssessmentsPublic:
    """A person's assessments, latest first (a resident reads their own)."""
    total, rows = service.list_assessments(
        session, principal, person_id, limit=limit, offset=offset
    )
    return AssessmentsPublic(
        items=[AssessmentPublic.of(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post("/home-visits", response_model=HomeVisitPublic, status_code=201, responses=RESPONSES)
def create_home_visit(
    session: SessionDep, principal: Visitor, body: HomeVisitCreate, response: Response
) -> HomeVisitPublic:
    """Record a home visit, with a Barthel assessment if one was made. A retry with the same
    ``idempotency_key`` returns the visit already recorded (200, ``created: false``)."""
    result = service.record_home_visit(
        session,
        principal,
        person_id=body.person_id,
        kind=body.kind,
        visited_at=body.visited_at,
        lives_alone=body.lives_alone,
        needs=list(body.needs),
        note=body.note,
        barthel_answers=body.barthel,
        idempotency_key=body.idempotency_key,
    )
    if not result.created:
        response.status_code = 200
    return HomeVisitPublic.of_result(result)


@router.get(
    "/persons/{person_id}/home-visits", response_model=HomeVisitsPublic, responses=RESPONSES
)
def list_home_visits(
    session: SessionDep,
    principal: VisitReader,
    person_id: str,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HomeVisitsPublic:
    """A person's home visits, latest first (a resident reads their own)."""
    total, rows = service.list_visits(session, principal, person_id, limit=limit, offset=offset)
    return HomeVisitsPublic(
        items=[HomeVisitPublic.of(v) for v in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/questionnaires", response_model=QuestionnairePublic, status_code=201, responses=RESPONSES
)
def create_questionnaire(
    session: SessionDep, principal: Taker, body: QuestionnaireCreate, response: Response
) -> QuestionnairePublic:
    """Keep a needs questionnaire (a resident's own, or staff's for a person of their area)."""
    result = service.submit_questionnaire(
        session,
        principal,
        person_id=body.person_id,
        needs=list(body.needs),
        other=body.other,
        idempotency_key=body.idempotency_key,
    )
    if not result.created:
        response.status_code = 200
    return QuestionnairePublic.of(result)
