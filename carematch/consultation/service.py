"""Use cases of remote consultation (远程会诊, R-SV-5): request with attachments, take, answer,
decline, cancel, close, refer; read and download within the caller's jurisdiction.

**Who is who.** Both ends are staff with the ``doctor`` role (a village doctor, a township
hospital's GP, a county hospital specialist are all 医生; the platform has no separate
"specialist" role, and inventing one would leave every existing doctor unable to answer). Which
end a doctor acts for follows from jurisdiction, as for referrals: a doctor whose region holds
the requesting provider's region is of the *requesting end*; one whose region holds the county
hospital's region is of the *consulting end*. A county doctor bound to the whole district holds
both and may do both. Admin may do everything. Other staff and residents are refused by the
endpoints' roles; staff of another district get 404, never a hint that the request exists.

**The SLA clock.** Sending a request starts a ``remote_consultation`` clock (30 minutes,
:mod:`carematch.booking.sla`) placed at the county hospital's region, so the sweep
(``carematch booking sla``) alerts the consulting end's doctors when it breaches and the
workbench lists it among their breaches. The answer stops it; so does a decline (the clinic
is told at once and can ask elsewhere, which is the point of the limit); a cancellation voids
it. Accepting does not stop it: taking a request and sitting on it is still a late answer.

**Attachments.** Checked by their bytes (:mod:`carematch.consultation.attachments`), sealed on
disk (:mod:`carematch.consultation.storage`) before the row is flushed; a request whose
transaction then fails leaves sealed orphans, unreadable and harmless, rather than rows without
files. Downloads decrypt, check the SHA-256 and are audited.

Services flush and never commit; the edge commits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from carematch.booking import clocks, sla
from carematch.consultation import attachments, indicators, repository, storage
from carematch.consultation.errors import (
    AttachmentIntegrity,
    AttachmentNotFound,
    AttachmentTooLarge,
    ConsultationNotFound,
    ConsultationStateConflict,
    InvalidConsultation,
    UnsupportedAttachment,
    WrongEnd,
)
from carematch.consultation.models import Consultation, ConsultationAttachment
from carematch.consultation.settings import consultation_settings
from carematch.consultation.workflow import (
    ACCEPTED,
    ACTORS,
    ANSWERED,
    CANCELLED,
    CLOSED,
    CONSULTING,
    DECLINED,
    REQUESTED,
    REQUESTING,
    SPECIALTIES,
    URGENCIES,
    WAITING,
    TransitionRefused,
    allowed_from,
    check_transition,
)
from carematch.core.clock import utcnow
from carematch.core.ids import new_id
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ
from carematch.providers.models import Provider
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Primary care asks (村卫生室, 乡镇卫生院, 社区卫生服务中心, 健康驿站); the county hospital answers.
REQUESTING_KINDS = (
    "village_clinic",
    "health_station",
    "township_hospital",
    "community_health_centre",
)
CONSULTING_KINDS = ("tertiary_hospital",)
SERVICE = "remote_consultation"  # the service catalogue's code
CLOCK = sla.REMOTE_CONSULTATION
MAX_QUESTION = 4000
MAX_TEXT = 4000
MAX_REASON = 500


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _checked_id(value: str, error: type[Exception], what: str) -> str:
    if not ID_PATTERN.match(value or ""):
        raise error(f"no {what} {value!r}")
    return value


def _text(value: str | None, what: str, limit: int, *, required: bool) -> str | None:
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise InvalidConsultation(f"{what} is required")
    if len(cleaned) > limit:
        raise InvalidConsultation(f"{what}: at most {limit} characters")
    return cleaned or None


# --- ends and visibility --------------------------------------------------------------------


def ends_of(principal: Principal, consultation: Consultation) -> frozenset[str]:
    """The ends of a consultation the principal acts for (none: it is not theirs to see)."""
    if principal.role == "resident":
        return frozenset()
    if principal.unrestricted:
        return frozenset((REQUESTING, CONSULTING))
    found = set()
    if principal.can_see(consultation.from_region):
        found.add(REQUESTING)
    if principal.can_see(consultation.to_region):
        found.add(CONSULTING)
    return frozenset(found)


def visible_consultation(
    session: Session, principal: Principal, consultation_id: str
) -> Consultation:
    """A consultation one of whose ends lies in the principal's jurisdiction.

    Raises:
        ConsultationNotFound: no such consultation, or not the principal's to see.
    """
    _checked_id(consultation_id, ConsultationNotFound, "consultation")
    found = repository.get(session, consultation_id)
    if found is None or not ends_of(principal, found):
        raise ConsultationNotFound(f"no consultation {consultation_id}")
    return found


@dataclass(frozen=True)
class ClockView:
    """The consultation's SLA clock as the workbench shows it."""

    deadline_at: datetime
    state: str
    remaining: timedelta
    breached: bool


@dataclass(frozen=True)
class ConsultationView:
    """A consultation with its attachments, its clock and the caller's ends and moves."""

    consultation: Consultation
    attachments: list[ConsultationAttachment]
    clock: ClockView | None
    ends: frozenset[str]

    @property
    def turnaround(self) -> timedelta | None:
        """Requested → answered (None until answered)."""
        c = self.consultation
        return indicators.turnaround(
            _utc(c.requested_at), _utc(c.answered_at) if c.answered_at else None
        )

    @property
    def moves(self) -> tuple[str, ...]:
        """The moves the caller may make now."""
        return tuple(s for s in allowed_from(self.consultation.status) if ACTORS[s] in self.ends)


def _clock_view(session: Session, consultation_id: str, now: datetime) -> ClockView | None:
    row = clocks.clock_of(session, CLOCK, consultation_id)
    if row is None:
        return None
    state = clocks.state_of(row, now)
    return ClockView(
        deadline_at=_utc(row.deadline_at),
        state=str(state),
        remaining=sla.remaining(clocks.engine_clock(row), now),
        breached=state is sla.ClockState.BREACHED,
    )


def _views(
    session: Session, principal: Principal, rows: Sequence[Consultation], now: datetime
) -> list[ConsultationView]:
    files = repository.attachments_of(session, [r.id for r in rows])
    return [
        ConsultationView(r, files[r.id], _clock_view(session, r.id, now), ends_of(principal, r))
        for r in rows
    ]


def get_consultation(
    session: Session, principal: Principal, consultation_id: str, *, now: datetime | None = None
) -> ConsultationView:
    """One consultation with its attachments; the read is audited (it is a person's record).

    Raises:
        ConsultationNotFound: not visible to the caller.
    """
    found = visible_consultation(session, principal, consultation_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_consultation",
        entity="consultation",
        entity_id=found.id,
        detail={"person": found.person_id},
    )
    return _views(session, principal, [found], _utc(now or utcnow()))[0]


# --- requesting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One uploaded file as received: the name the browser gave and the bytes."""

    name: str | None
    data: bytes


def check_uploads(uploads: Sequence[Upload]) -> list[attachments.Sniffed]:
    """Refuse too many files, a file over the size limit, or one that is not an accepted type.

    Raises:
        AttachmentTooLarge (413), UnsupportedAttachment (422).
    """
    limits = consultation_settings()
    if len(uploads) > limits.max_attachments:
        raise AttachmentTooLarge(
            f"at most {limits.max_attachments} files per request",
            max_attachments=limits.max_attachments,
        )
    found = []
    for upload in uploads:
        if len(upload.data) > limits.max_attachment_bytes:
            raise AttachmentTooLarge(
                f"{upload.name or 'a file'} is larger than {limits.max_attachment_bytes} bytes",
                max_bytes=limits.max_attachment_bytes,
            )
        try:
            found.append(attachments.sniff(upload.data))
        except attachments.UnsupportedFile as exc:
            raise UnsupportedAttachment(
                f"{upload.name or 'a file'}: {exc}",
                accepted=["PDF", "PNG", "JPEG", "DICOM", "ECG text/CSV"],
            ) from None
    return found


def _provider(session: Session, provider_id: str) -> Provider:
    from carematch.providers.service import get_provider

    _checked_id(provider_id, ProviderNotFound, "provider")
    return get_provider(session, provider_id).provider


def _community_root(session: Session, provider_id: str) -> str:
    """The lead provider of a provider's medical community (县域医共体), by its parents."""
    from carematch.familydoctor.referrals import community_root

    def parent_of(pid: str) -> str | None:
        try:
            return _provider(session, pid).parent_id or None
        except ProviderNotFound:
            return None

    try:
        return community_root(provider_id, parent_of)
    except ValueError as exc:
        raise InvalidConsultation(str(exc)) from exc


def request_consultation(
    session: Session,
    principal: Principal,
    *,
    person_id: str,
    from_provider_id: str,
    to_provider_id: str | None,
    specialty: str,
    urgency: str,
    question: str,
    uploads: Sequence[Upload] = (),
    now: datetime | None = None,
) -> ConsultationView:
    """Send a consultation request from a primary-care provider of the caller's jurisdiction to
    the county hospital of its medical community (the community's lead when none is named),
    with its files; start the 30-minute clock.

    Raises:
        PersonNotFound, ProviderNotFound (the requesting provider outside the jurisdiction, or
        either unknown), InvalidConsultation, AttachmentTooLarge, UnsupportedAttachment.
    """
    now = _utc(now or utcnow())
    if specialty not in SPECIALTIES:
        raise InvalidConsultation(f"specialty is one of {', '.join(SPECIALTIES)}")
    if urgency not in URGENCIES:
        raise InvalidConsultation(f"urgency is one of {', '.join(URGENCIES)}")
    cleaned = _text(question, "the question", MAX_QUESTION, required=True)
    assert cleaned is not None
    sniffed = check_uploads(uploads)
    _checked_id(person_id, PersonNotFound, "person")
    person = visible_person(session, principal, person_id)
    source = _provider(session, from_provider_id)
    if not principal.can_see(source.region_code):
        raise ProviderNotFound(f"no provider {from_provider_id}")
    if source.kind not in REQUESTING_KINDS:
        raise InvalidConsultation("remote consultations are requested by primary-care providers")
    root = _community_root(session, source.id)
    target = _provider(session, to_provider_id or root)
    if target.kind not in CONSULTING_KINDS or not target.active:
        raise InvalidConsultation(
            f"provider {target.id} is not an active county hospital taking consultations"
        )
    if target.id == source.id or _community_root(session, target.id) != root:
        raise InvalidConsultation(
            "the county hospital is not of the clinic's medical community (县域医共体)"
        )
    consultation = Consultation(
        id=new_id(),
        person_id=person.id,
        from_provider_id=source.id,
        to_provider_id=target.id,
        from_region=source.region_code,
        to_region=target.region_code,
        specialty=specialty,
        urgency=urgency,
        question=cleaned,
        status=REQUESTED,
        requested_by=principal.username,
        requested_at=now,
        updated_at=now,
    )
    repository.add(session, consultation)
    for position, (upload, kind) in enumerate(zip(uploads, sniffed, strict=True)):
        attachment_id = new_id()
        storage.write(attachment_id, upload.data)
        repository.add(
            session,
            ConsultationAttachment(
                id=attachment_id,
                consultation_id=consultation.id,
                position=position,
                file_name=attachments.clean_name(upload.name, kind.content_type),
                content_type=kind.content_type,
                kind=kind.kind,
                size_bytes=len(upload.data),
                sha256=storage.sha256_hex(upload.data),
                uploaded_by=principal.username,
                uploaded_at=now,
            ),
        )
    clocks.start_clock(
        session,
        CLOCK,
        consultation.id,
        person_id=person.id,
        service=SERVICE,
        started_at=now,
        region_code=target.region_code,
        provider_id=target.id,
        now=now,
    )
    audit.record(
        session,
        actor=principal.username,
        action="request_consultation",
        entity="consultation",
        entity_id=consultation.id,
        detail={
            "person": person.id,
            "from": source.id,
            "to": target.id,
            "specialty": specialty,
            "urgency": urgency,
            "attachments": len(uploads),
        },
    )
    return _views(session, principal, [consultation], now)[0]


# --- moves -----------------------------------------------------------------------------------


def _move(
    session: Session,
    principal: Principal,
    consultation_id: str,
    target: str,
    *,
    values: dict[str, Any],
    reason: str | None = None,
    now: datetime,
) -> Consultation:
    found = visible_consultation(session, principal, consultation_id)
    end = ACTORS.get(target)
    if end is not None and end not in ends_of(principal, found):
        who = "the county hospital" if end == CONSULTING else "the requesting clinic"
        raise WrongEnd(f"only {who} may move a consultation to {target}")
    try:
        check_transition(found.status, target, reason)
    except TransitionRefused as exc:
        raise ConsultationStateConflict(
            str(exc), current=exc.current, allowed=list(exc.allowed)
        ) from exc
    if not repository.move(
        session,
        found.id,
        current=found.status,
        values={"status": target, "updated_at": now, **values},
    ):
        fresh = repository.get(session, found.id)
        current = fresh.status if fresh else found.status
        raise ConsultationStateConflict(
            f"the consultation was moved to {current} by another request",
            current=current,
            allowed=list(allowed_from(current)),
        )
    audit.record(
        session,
        actor=principal.username,
        action=f"consultation_{target}",
        entity="consultation",
        entity_id=found.id,
        detail={"from": found.status, "to": target, "person": found.person_id},
    )
    moved = repository.get(session, found.id)
    assert moved is not None
    return moved


def accept(
    session: Session, principal: Principal, consultation_id: str, *, now: datetime | None = None
) -> ConsultationView:
    """The specialist takes the request (接诊); the clock keeps running until the answer.

    Raises:
        ConsultationNotFound, WrongEnd (403), ConsultationStateConflict (409).
    """
    now = _utc(now or utcnow())
    moved = _move(
        session,
        principal,
        consultation_id,
        ACCEPTED,
        values={"accepted_by": principal.username, "accepted_at": now},
        now=now,
    )
    return _views(session, principal, [moved], now)[0]


def answer(
    session: Session,
    principal: Principal,
    consultation_id: str,
    *,
    findings: str,
    advice: str | None = None,
    now: datetime | None = None,
) -> ConsultationView:
    """The specialist answers with findings and advice: the turnaround ends, the clock stops.

    Raises:
        ConsultationNotFound, WrongEnd (403), InvalidConsultation (no findings),
        ConsultationStateConflict (409: not accepted, or answered already).
    """
    now = _utc(now or utcnow())
    cleaned = _text(findings, "the findings", MAX_TEXT, required=True)
    cleaned_advice = _text(advice, "the advice", MAX_TEXT, required=False)
    moved = _move(
        session,
        principal,
        consultation_id,
        ANSWERED,
        values={
            "answered_by": principal.username,
            "answered_at": now,
            "findings": cleaned,
            "advice": cleaned_advice,
        },
        now=now,
    )
    clocks.answer_clock(
        session, CLOCK, moved.id, at=now, answer="answered", answered_by=principal.username
    )
    return _views(session, principal, [moved], now)[0]


def _end(
    session: Session,
    principal: Principal,
    consultation_id: str,
    target: str,
    reason: str | None,
    now: datetime,
) -> Consultation:
    cleaned = _text(reason, "the reason", MAX_REASON, required=False)
    return _move(
        session,
        principal,
        consultation_id,
        target,
        values={"ended_by": principal.username, "ended_at": now, "end_reason": cleaned},
        reason=cleaned,
        now=now,
    )


def decline(
    session: Session,
    principal: Principal,
    consultation_id: str,
    *,
    reason: str,
    now: datetime | None = None,
) -> ConsultationView:
    """The specialist declines, saying why (wrong specialty, needs an in-person visit): the
    clinic hears at once, so the clock counts it as answered.

    Raises:
        ConsultationNotFound, WrongEnd (403), ConsultationStateConflict (409, also without a
        reason).
    """
    now = _utc(now or utcnow())
    moved = _end(session, principal, consultation_id, DECLINED, reason, now)
    clocks.answer_clock(
        session, CLOCK, moved.id, at=now, answer="declined", answered_by=principal.username
    )
    return _views(session, principal, [moved], now)[0]


def cancel(
    session: Session,
    principal: Principal,
    consultation_id: str,
    *,
    reason: str,
    now: datetime | None = None,
) -> ConsultationView:
    """The requesting clinic withdraws its request (the patient went to the county hospital):
    the clock is voided, nobody is late for a question no longer asked.

    Raises:
        ConsultationNotFound, WrongEnd (403), ConsultationStateConflict (409).
    """
    now = _utc(now or utcnow())
    moved = _end(session, principal, consultation_id, CANCELLED, reason, now)
    clocks.void_clock(session, CLOCK, moved.id, at=now, reason="cancelled")
    return _views(session, principal, [moved], now)[0]


def close(
    session: Session, principal: Principal, consultation_id: str, *, now: datetime | None = None
) -> ConsultationView:
    """The requesting clinic has read the answer and closes the consultation.

    Raises:
        ConsultationNotFound, WrongEnd (403), ConsultationStateConflict (409).
    """
    now = _utc(now or utcnow())
    moved = _move(session, principal, consultation_id, CLOSED, values={"closed_at": now}, now=now)
    return _views(session, principal, [moved], now)[0]


def refer(
    session: Session,
    principal: Principal,
    consultation_id: str,
    *,
    reason: str,
    urgency: str | None = None,
    now: datetime | None = None,
) -> tuple[ConsultationView, str]:
    """After the answer, refer the patient upward from the requesting clinic to the county
    hospital (双向转诊) through the family-doctor domain's :func:`refer`; the consultation
    keeps the referral's id. Returns the view and the referral id.

    Raises:
        ConsultationNotFound, ConsultationStateConflict (409: not answered yet, or referred
        already), and what :func:`carematch.familydoctor.service.refer` raises (the caller
        must see the clinic and the person).
    """
    from carematch.familydoctor import service as familydoctor

    now = _utc(now or utcnow())
    found = visible_consultation(session, principal, consultation_id)
    if found.status not in (ANSWERED, CLOSED):
        raise ConsultationStateConflict(
            "a referral follows the answer", current=found.status, allowed=[]
        )
    if found.referral_id is not None:
        raise ConsultationStateConflict(
            f"referred already (referral {found.referral_id})",
            current=found.status,
            allowed=[],
            referral_id=found.referral_id,
        )
    view = familydoctor.refer(
        session,
        principal,
        person_id=found.person_id,
        from_provider_id=found.from_provider_id,
        to_provider_id=found.to_provider_id,
        reason=reason,
        urgency=urgency or found.urgency,
    )
    referral_id = view.referral.id
    if not repository.set_referral(session, found.id, referral_id, now):
        raise ConsultationStateConflict(
            "referred already by another request", current=found.status, allowed=[]
        )
    audit.record(
        session,
        actor=principal.username,
        action="consultation_referred",
        entity="consultation",
        entity_id=found.id,
        detail={"referral": referral_id, "person": found.person_id},
    )
    fresh = repository.get(session, found.id)
    assert fresh is not None
    return _views(session, principal, [fresh], now)[0], referral_id


# --- lists and downloads ---------------------------------------------------------------------


def list_consultations(
    session: Session,
    principal: Principal,
    *,
    limit: int,
    offset: int,
    end: str | None = None,
    statuses: Sequence[str] | None = None,
    person_id: str | None = None,
    now: datetime | None = None,
) -> tuple[int, list[ConsultationView]]:
    """Consultations of the caller's jurisdiction: ``end="consulting"`` is the specialist's
    queue (oldest first, so the longest waiting is on top), ``end="requesting"`` the clinic's
    requests (newest first); neither gives both ends, newest first. Audited as a list read.
    """
    prefix = region_prefix(principal.jurisdiction) if principal.jurisdiction else None
    unrestricted = principal.unrestricted
    requesting = prefix if end in (None, REQUESTING) else None
    consulting = prefix if end in (None, CONSULTING) else None
    if unrestricted:
        requesting = consulting = None
    scope = repository.scope_condition(requesting, consulting, unrestricted)
    total, rows = repository.list_consultations(
        session,
        limit=limit,
        offset=offset,
        scope=scope,
        statuses=statuses,
        person_id=person_id,
        oldest_first=end == CONSULTING,
    )
    audit.record(
        session,
        actor=principal.username,
        action="list_consultations",
        entity="consultation",
        entity_id="*",
        detail={"count": len(rows), "offset": offset, "end": end},
    )
    return total, _views(session, principal, rows, _utc(now or utcnow()))


def queue(
    session: Session, principal: Principal, *, limit: int = 100, now: datetime | None = None
) -> tuple[int, list[ConsultationView]]:
    """The specialist's queue: requests to the caller's county hospital still waiting."""
    return list_consultations(
        session, principal, limit=limit, offset=0, end=CONSULTING, statuses=WAITING, now=now
    )


def download(
    session: Session, principal: Principal, consultation_id: str, attachment_id: str
) -> tuple[ConsultationAttachment, bytes]:
    """An attachment's bytes, decrypted and checked against their hash; audited.

    Raises:
        ConsultationNotFound, AttachmentNotFound, AttachmentIntegrity (the stored file was
        altered: it is never served, and the failure is audited).
    """
    found = visible_consultation(session, principal, consultation_id)
    _checked_id(attachment_id, AttachmentNotFound, "attachment")
    row = repository.get_attachment(session, found.id, attachment_id)
    if row is None:
        raise AttachmentNotFound(f"no attachment {attachment_id}")
    try:
        data = storage.read(row.id, row.sha256)
    except storage.AttachmentCorrupted as exc:
        audit.record(
            session,
            actor=principal.username,
            action="attachment_integrity_failed",
            entity="consultation_attachment",
            entity_id=row.id,
            detail={"consultation": found.id, "problem": str(exc)},
        )
        # The edge commits this entry before answering (it rolls back other errors).
        raise AttachmentIntegrity(str(exc), attachment=row.id) from None
    audit.record(
        session,
        actor=principal.username,
        action="download_attachment",
        entity="consultation_attachment",
        entity_id=row.id,
        detail={"consultation": found.id, "person": found.person_id},
    )
    return row, data


# --- indicators ------------------------------------------------------------------------------


def indicator_stats(
    session: Session,
    *,
    since: date,
    until: date,
    period: str = "month",
    region: str | None = None,
) -> list[indicators.PeriodStats]:
    """Requests per period (city days ``[since, until)``) from providers in ``region`` (any
    level; None for the whole city): counts by status, answered, median turnaround.

    Raises:
        KeyError: an unknown period.
    """
    start = datetime.combine(since, time(0), tzinfo=CITY_TZ)
    end = datetime.combine(until, time(0), tzinfo=CITY_TZ)
    rows = repository.indicator_rows(
        session,
        since=start,
        until=end,
        region_prefix=region_prefix(region) if region else None,
    )
    return indicators.per_period(
        [
            (
                _utc(requested).astimezone(CITY_TZ).date(),
                status,
                indicators.turnaround(_utc(requested), _utc(answered) if answered else None),
            )
            for requested, status, answered in rows
        ],
        period,
    )
