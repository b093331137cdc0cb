"""API shapes of the consultation domain. Times are shown in city time with the offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, StringConstraints

from carematch.consultation.models import ConsultationAttachment
from carematch.consultation.service import ConsultationView
from carematch.providers.hours import CITY_TZ

Status = Literal["requested", "accepted", "answered", "closed", "declined", "cancelled"]
End = Literal["requesting", "consulting"]
Urgency = Literal["routine", "urgent", "emergency"]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]
LongText = Annotated[str, StringConstraints(max_length=4000)]


def city_time(at: datetime | None) -> datetime | None:
    """A stored time in city time (SQLite returns UTC wall time without an offset)."""
    if at is None:
        return None
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return aware.astimezone(CITY_TZ)


class AttachmentPublic(BaseModel):
    """An attachment's metadata; the bytes come from its ``download`` link."""

    id: str
    file_name: str
    content_type: str
    kind: str
    size_bytes: int
    sha256: str
    uploaded_at: datetime
    download: str

    @classmethod
    def of(cls, row: ConsultationAttachment) -> AttachmentPublic:
        at = city_time(row.uploaded_at)
        assert at is not None
        return cls(
            id=row.id,
            file_name=row.file_name,
            content_type=row.content_type,
            kind=row.kind,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            uploaded_at=at,
            download=f"/api/v1/consultations/{row.consultation_id}/attachments/{row.id}",
        )


class ClockPublic(BaseModel):
    """The 30-minute answer clock: its deadline, state and the seconds left (negative once
    past)."""

    deadline_at: datetime
    state: Literal["running", "met", "void", "breached"]
    remaining_seconds: int
    breached: bool


class ConsultationPublic(BaseModel):
    """A consultation as the API returns it."""

    id: str
    person_id: str
    from_provider_id: str
    to_provider_id: str
    specialty: str
    urgency: Urgency
    question: str
    status: Status
    requested_by: str
    requested_at: datetime
    accepted_by: str | None
    accepted_at: datetime | None
    answered_by: str | None
    answered_at: datetime | None
    findings: str | None
    advice: str | None
    ended_by: str | None
    ended_at: datetime | None
    end_reason: str | None
    closed_at: datetime | None
    referral_id: str | None
    turnaround_minutes: float | None
    attachments: list[AttachmentPublic]
    clock: ClockPublic | None
    my_ends: list[End]
    allowed: list[Status]

    @classmethod
    def of(cls, view: ConsultationView) -> ConsultationPublic:
        c = view.consultation
        turnaround = view.turnaround
        clock = view.clock
        requested = city_time(c.requested_at)
        assert requested is not None
        return cls(
            id=c.id,
            person_id=c.person_id,
            from_provider_id=c.from_provider_id,
            to_provider_id=c.to_provider_id,
            specialty=c.specialty,
            urgency=c.urgency,  # type: ignore[arg-type]
            question=c.question,
            status=c.status,  # type: ignore[arg-type]
            requested_by=c.requested_by,
            requested_at=requested,
            accepted_by=c.accepted_by,
            accepted_at=city_time(c.accepted_at),
            answered_by=c.answered_by,
            answered_at=city_time(c.answered_at),
            findings=c.findings,
            advice=c.advice,
            ended_by=c.ended_by,
            ended_at=city_time(c.ended_at),
            end_reason=c.end_reason,
            closed_at=city_time(c.closed_at),
            referral_id=c.referral_id,
            turnaround_minutes=(
                round(turnaround.total_seconds() / 60, 1) if turnaround is not None else None
            ),
            attachments=[AttachmentPublic.of(a) for a in view.attachments],
            clock=(
                ClockPublic(
                    deadline_at=clock.deadline_at.astimezone(CITY_TZ),
                    state=clock.state,  # type: ignore[arg-type]
                    remaining_seconds=int(clock.remaining.total_seconds()),
                    breached=clock.breached,
                )
                if clock is not None
                else None
            ),
            my_ends=sorted(view.ends),  # type: ignore[arg-type]
            allowed=list(view.moves),  # type: ignore[arg-type]
        )


class ConsultationsPublic(BaseModel):
    items: list[ConsultationPublic]
    total: int
    limit: int
    offset: int


class AnswerCreate(BaseModel):
    """The specialist's answer: findings (required) and advice."""

    findings: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    advice: LongText | None = None


class ReasonCreate(BaseModel):
    """Why a consultation is declined or cancelled."""

    reason: Reason


class ReferralCreate(BaseModel):
    """A referral following the answer: why, and how urgent (the request's by default)."""

    reason: Reason
    urgency: Urgency | None = None


class ReferredPublic(BaseModel):
    """The consultation after the referral, and the referral's id (see /api/v1/referrals)."""

    consultation: ConsultationPublic
    referral_id: str
