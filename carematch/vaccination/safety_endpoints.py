"""The vaccination-safety API under /api/v1/vaccination: pre-screenings and their review, AEFI
reports, outreach to lapsed children. Every route declares its authorisation.

The request/response shapes live here with the routes (the domain's ``schemas.py`` belongs to
the forecast and certificate API).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.security.authz import Principal, require
from carematch.vaccination import aefi_service, outreach, prescreen_service
from carematch.vaccination.prescreen_service import ScreeningView
from carematch.vaccination.safety_models import CONTACT_OUTCOMES, LAPSE_REASONS

router = APIRouter(prefix="/vaccination", tags=["vaccination-safety"])

CLINICAL = ("official", "doctor", "vaccinator")
Screener = Annotated[Principal, Depends(require(*CLINICAL, "resident"))]
Clinical = Annotated[Principal, Depends(require(*CLINICAL))]
Reviewer = Annotated[Principal, Depends(require(*prescreen_service.REVIEWERS))]
Reporter = Annotated[Principal, Depends(require(*CLINICAL))]
Outreacher = Annotated[Principal, Depends(require(*CLINICAL, "grid_worker"))]
IdText = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SeriesCode = Annotated[str, Field(min_length=1, max_length=16)]
ScreenStatus = Literal["pass", "defer", "contraindicated", "needs_review"]


# --- pre-screening ---------------------------------------------------------------------------


class PrescreeningCreate(BaseModel):
    """A questionnaire for one person and one vaccine series; each answer yes or no."""

    model_config = ConfigDict(extra="forbid")

    person_id: IdText
    series: SeriesCode
    answers: dict[Annotated[str, Field(max_length=64)], bool] = Field(max_length=64)


class FindingPublic(BaseModel):
    """A rule that fired: its outcome and reason."""

    rule: str
    outcome: ScreenStatus
    reason_zh: str
    reason_en: str


class PrescreeningPublic(BaseModel):
    """A screening: the automatic outcome, the one in force, the reasons and any decision."""

    id: str
    person_id: str
    series: str
    status: ScreenStatus
    outcome: ScreenStatus
    suggested: ScreenStatus
    review_required: bool
    findings: list[FindingPublic]
    answers: dict[str, bool | None]
    created_at: datetime
    decision: str | None
    decision_note: str | None
    decided_by: str | None
    decided_at: datetime | None

    @classmethod
    def of(cls, v: ScreeningView) -> PrescreeningPublic:
        r = v.row
        return cls(
            id=r.id,
            person_id=r.person_id,
            series=r.series,
            status=r.status,  # type: ignore[arg-type]
            outcome=r.outcome,  # type: ignore[arg-type]
            suggested=r.suggested,  # type: ignore[arg-type]
            review_required=r.review_required,
            findings=[FindingPublic(**f) for f in v.findings],  # type: ignore[arg-type]
            answers=v.answers,
            created_at=r.created_at,
            decision=r.decision,
            decision_note=r.decision_note,
            decided_by=r.decided_by,
            decided_at=r.decided_at,
        )


class PrescreeningsPublic(BaseModel):
    """A page of screenings."""

    items: list[PrescreeningPublic]
    total: int
    limit: int
    offset: int


class DecisionCreate(BaseModel):
    """A reviewer's decision and the note saying why (required)."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["approve", "defer", "contraindicate"]
    note: Annotated[str, Field(min_length=1, max_length=2000)]


class QuestionPublic(BaseModel):
    """One question of the questionnaire."""

    key: str
    zh: str
    en: str


@router.get("/prescreening-questions", response_model=list[QuestionPublic])
def list_questions(principal: Screener) -> list[QuestionPublic]:
    """The questionnaire, in the table's order (what a form asks)."""
    return [
        QuestionPublic(key=q.key, zh=q.zh, en=q.en) for q in prescreen_service.table().questions
    ]


@router.post("/prescreenings", response_model=PrescreeningPublic, status_code=201)
def create_prescreening(
    session: SessionDep, principal: Screener, body: PrescreeningCreate
) -> PrescreeningPublic:
    """Screen a person (a resident: themselves or a registered dependant) for a series.

    404 for a person the caller may not act for; 400 for an unknown series or question.
    """
    result = prescreen_service.screen_person(
        session, principal, person_id=body.person_id, series=body.series, answers=dict(body.answers)
    )
    return PrescreeningPublic.of(result)


@router.get("/prescreenings", response_model=PrescreeningsPublic)
def list_prescreenings(
    session: SessionDep,
    principal: Screener,
    status: ScreenStatus | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> PrescreeningsPublic:
    """Screenings of the caller's jurisdiction (``status=needs_review``: the review queue)."""
    views, total = prescreen_service.list_screenings(
        session, principal, status=status, limit=limit, offset=offset
    )
    return PrescreeningsPublic(
        items=[PrescreeningPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/prescreenings/{screening_id}", response_model=PrescreeningPublic)
def get_prescreening(
    session: SessionDep, principal: Screener, screening_id: str
) -> PrescreeningPublic:
    """One screening; 404 outside the caller's reach."""
    return PrescreeningPublic.of(prescreen_service.get_screening(session, principal, screening_id))


@router.post("/prescreenings/{screening_id}/decision", response_model=PrescreeningPublic)
def decide_prescreening(
    session: SessionDep, principal: Reviewer, screening_id: str, body: DecisionCreate
) -> PrescreeningPublic:
    """A vaccinator decides a screening in the review queue (409 when none is pending)."""
    result = prescreen_service.decide(
        session, principal, screening_id, decision=body.decision, note=body.note
    )
    return PrescreeningPublic.of(result)


# --- AEFI ------------------------------------------------------------------------------------


class AefiCreate(BaseModel):
    """A suspected adverse event following immunization."""

    model_config = ConfigDict(extra="forbid")

    person_id: IdText
    series: SeriesCode
    dose: Annotated[int, Field(ge=1, le=20)] | None = None
    lot: Annotated[str, Field(max_length=64)] | None = None
    provider_id: IdText
    dose_given_on: date
    category: Annotated[str, Field(min_length=1, max_length=32)]
    serious: bool = False
    death: bool = False
    onset_at: AwareDatetime
    found_at: AwareDatetime
    description: Annotated[str, Field(min_length=1, max_length=4000)]


class AefiPublic(BaseModel):
    """A report with its deadline, overdue flag, onset-window flag and cluster."""

    id: str
    person_id: str
    series: str
    dose: int | None
    lot: str | None
    provider_id: str
    dose_given_on: date
    category: str
    serious: bool
    death: bool
    onset_at: datetime
    found_at: datetime
    onset_in_window: bool
    description: str
    deadline_at: datetime
    overdue: bool
    cluster_id: str | None
    reported_by: str
    reported_at: datetime
    submitted_at: datetime | None

    @classmethod
    def of(cls, v: aefi_service.ReportView) -> AefiPublic:
        r = v.report
        return cls(
            id=r.id,
            person_id=r.person_id,
            series=r.series,
            dose=r.dose,
            lot=r.lot,
            provider_id=r.provider_id,
            dose_given_on=r.dose_given_on,
            category=r.category,
            serious=r.serious,
            death=r.death,
            onset_at=r.onset_at,
            found_at=r.found_at,
            onset_in_window=r.onset_in_window,
            description=r.description,
            deadline_at=r.deadline_at,
            overdue=v.overdue,
            cluster_id=r.cluster_id,
            reported_by=r.reported_by,
            reported_at=r.reported_at,
            submitted_at=r.submitted_at,
        )


class AefiPage(BaseModel):
    """A page of reports."""

    items: list[AefiPublic]
    total: int
    limit: int
    offset: int


@router.post("/aefi", response_model=AefiPublic, status_code=201)
def create_aefi(session: SessionDep, principal: Reporter, body: AefiCreate) -> AefiPublic:
    """File a report; a serious one may raise or join a cluster (alerting staff once)."""
    result = aefi_service.report_event(session, principal, **body.model_dump())
    return AefiPublic.of(result)


@router.get("/aefi", response_model=AefiPage)
def list_aefi(
    session: SessionDep,
    principal: Clinical,
    overdue: bool | None = None,
    cluster_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> AefiPage:
    """Reports of the caller's jurisdiction, newest first (``overdue=true``: the late ones)."""
    views, total = aefi_service.list_reports(
        session, principal, overdue=overdue, cluster_id=cluster_id, limit=limit, offset=offset
    )
    return AefiPage(
        items=[AefiPublic.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/aefi/{report_id}", response_model=AefiPublic)
def get_aefi(session: SessionDep, principal: Clinical, report_id: str) -> AefiPublic:
    """One report; 404 outside the jurisdiction."""
    return AefiPublic.of(aefi_service.get_report(session, principal, report_id))


@router.post("/aefi/{report_id}/submission", response_model=AefiPublic)
def submit_aefi(session: SessionDep, principal: Reporter, report_id: str) -> AefiPublic:
    """Record that the report went to the national AEFI system (409 the second time)."""
    return AefiPublic.of(aefi_service.mark_submitted(session, principal, report_id))


# --- outreach --------------------------------------------------------------------------------


class ContactCreate(BaseModel):
    """One contact with a lapsed child's family."""

    model_config = ConfigDict(extra="forbid")

    person_id: IdText
    outcome: Literal[CONTACT_OUTCOMES]  # type: ignore[valid-type]
    reason: Literal[LAPSE_REASONS] | None = None  # type: ignore[valid-type]
    note: Annotated[str, Field(max_length=2000)] | None = None
    site: Annotated[str, Field(max_length=100)] | None = None


class ContactPublic(BaseModel):
    """A recorded contact and the reminder it scheduled, if any."""

    id: str
    person_id: str
    outcome: str
    reason: str | None
    doses_overdue: int
    remind_at: datetime | None
    contacted_by: str
    contacted_at: datetime


class LapseSummaryPublic(BaseModel):
    """Lapsed children of one community by reason and by last outcome."""

    community_code: str | None
    children: int
    reasons: dict[str, int]
    outcomes: dict[str, int]


@router.post("/outreach/contacts", response_model=ContactPublic, status_code=201)
def create_contact(
    session: SessionDep, principal: Outreacher, body: ContactCreate
) -> ContactPublic:
    """Record a contact (409 when the child has nothing overdue); "will_come" reminds later."""
    contact = outreach.record_contact(session, principal, **body.model_dump())
    return ContactPublic(
        id=contact.id,
        person_id=contact.person_id,
        outcome=contact.outcome,
        reason=contact.reason,
        doses_overdue=contact.doses_overdue,
        remind_at=contact.remind_at,
        contacted_by=contact.contacted_by,
        contacted_at=contact.contacted_at,
    )


@router.get("/outreach/lapse-reasons", response_model=list[LapseSummaryPublic])
def lapse_reasons(
    session: SessionDep,
    principal: Outreacher,
    community: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
) -> list[LapseSummaryPublic]:
    """Lapse reasons per community of the caller's jurisdiction."""
    return [
        LapseSummaryPublic(
            community_code=s.community_code,
            children=s.children,
            reasons=s.reasons,
            outcomes=s.outcomes,
        )
        for s in outreach.lapse_summary(session, principal, community)
    ]
