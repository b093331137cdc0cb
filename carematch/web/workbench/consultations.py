"""The workbench's remote consultations (远程会诊): the county specialist's queue and answer
form, and the requesting clinic's requests with their status and turnaround.

``/workbench/consultations`` lists both for a doctor: what waits for their hospital (oldest
first, each with the 30-minute clock's time left, breached ones flagged) and what their clinics
sent. A request's page shows the question and the attachments (downloaded through the API,
which decrypts, checks and audits), and the moves the caller's end may make: take, answer,
decline; cancel, close, refer. Every change is a plain POST with the session's CSRF token,
answered with a redirect once committed (see :mod:`carematch.web.workbench.today`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from carematch.api.deps import SessionDep
from carematch.consultation import service
from carematch.consultation.endpoints import DOCTORS, read_uploads
from carematch.consultation.errors import WrongEnd
from carematch.consultation.workflow import (
    ACCEPTED,
    ANSWERED,
    CANCELLED,
    CLOSED,
    DECLINED,
    REQUESTING,
    SPECIALTIES,
    URGENCIES,
)
from carematch.core.errors import CareMatchError, Conflict, InvalidInput, NotFound
from carematch.identity.errors import PersonNotFound
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

Doctor = Annotated[Principal, Depends(require(*DOCTORS))]
BASE = "/workbench/consultations"
MAX_ROWS = 100
MAX_PROVIDERS = 500
Text = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=64)]

STATUS_LABELS = {
    "requested": N_("Waiting to be taken"),
    "accepted": N_("Taken, being answered"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
}
URGENCY_LABELS = {
    "routine": N_("Routine"),
    "urgent": N_("Urgent"),
    "emergency": N_("Emergency"),
}
SPECIALTY_LABELS = {
    "cardiology": N_("Cardiology"),
    "radiology": N_("Radiology"),
    "ultrasound": N_("Ultrasound"),
    "internal_medicine": N_("Internal medicine"),
    "endocrinology": N_("Endocrinology"),
    "neurology": N_("Neurology"),
    "respiratory": N_("Respiratory medicine"),
    "paediatrics": N_("Paediatrics"),
    "obstetrics": N_("Obstetrics and gynaecology"),
    "dermatology": N_("Dermatology"),
    "general_surgery": N_("General surgery"),
}
KIND_LABELS = {"ecg": N_("ECG"), "image": N_("Image"), "report": N_("Report")}

router = APIRouter(
    prefix=BASE, dependencies=[Depends(page_guard(*DOCTORS))], include_in_schema=False
)


def _when(at: datetime | None) -> str:
    if at is None:
        return ""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return f"{aware.astimezone(CITY_TZ):%Y-%m-%d %H:%M}"


def _minutes(delta: timedelta | None) -> int | None:
    # Whole minutes toward zero: 15 min 20 s overdue reads "15 min", as a clock would.
    return None if delta is None else int(delta.total_seconds() / 60)


class _Names:
    """Provider names and masked persons, each looked up once per page."""

    def __init__(self, session: Session, principal: Principal, locale: str) -> None:
        self.session, self.principal, self.locale = session, principal, locale
        self.providers: dict[str, str] = {}
        self.people: dict[str, PersonSummary | None] = {}

    def provider(self, provider_id: str) -> str:
        from carematch.providers.service import get_provider

        if provider_id not in self.providers:
            try:
                p = get_provider(self.session, provider_id).provider
                self.providers[provider_id] = i18n.localized_name(p.name, p.name_en, self.locale)
            except ProviderNotFound:  # pragma: no cover - a consultation keeps its providers
                self.providers[provider_id] = provider_id
        return self.providers[provider_id]

    def person(self, person_id: str) -> PersonSummary | None:
        if person_id not in self.people:
            try:
                found = visible_person(self.session, self.principal, person_id)
                self.people[person_id] = PersonSummary.of(found)
            except PersonNotFound:  # the specialist may work outside the patient's area
                self.people[person_id] = None
        return self.people[person_id]


def _label(locale: str, labels: dict[str, str], code: str) -> str:
    return i18n.gettext(locale, labels[code]) if code in labels else code


@dataclass(frozen=True)
class Row:
    """One consultation in a list."""

    id: str
    person: PersonSummary | None
    person_id: str
    specialty: str
    urgency: str
    urgency_code: str
    status: str
    status_label: str
    from_provider: str
    to_provider: str
    requested_at: str
    attachments: int
    remaining_minutes: int | None
    breached: bool
    turnaround_minutes: int | None


def _row(view: service.ConsultationView, names: _Names) -> Row:
    c, locale = view.consultation, names.locale
    clock = view.clock
    waiting = c.status in ("requested", "accepted")
    return Row(
        id=c.id,
        person=names.person(c.person_id),
        person_id=c.person_id,
        specialty=_label(locale, SPECIALTY_LABELS, c.specialty),
        urgency=_label(locale, URGENCY_LABELS, c.urgency),
        urgency_code=c.urgency,
        status=c.status,
        status_label=_label(locale, STATUS_LABELS, c.status),
        from_provider=names.provider(c.from_provider_id),
        to_provider=names.provider(c.to_provider_id),
        requested_at=_when(c.requested_at),
        attachments=len(view.attachments),
        remaining_minutes=_minutes(clock.remaining) if clock and waiting else None,
        breached=bool(clock and clock.breached),
        turnaround_minutes=_minutes(view.turnaround),
    )


def _no_store(response: HTMLResponse) -> HTMLResponse:
    response.headers.update(review.NO_STORE)
    return response


@router.get("", response_class=HTMLResponse)
def consultations_page(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    sent: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The specialist's queue and the clinic's requests."""
    locale = i18n.negotiate(request)
    names = _Names(session, principal, locale)
    queued_total, queued = service.queue(session, principal, limit=MAX_ROWS)
    sent_total, mine = service.list_consultations(
        session, principal, limit=MAX_ROWS, offset=0, end=REQUESTING
    )
    context = {
        "queue": [_row(v, names) for v in queued],
        "queue_total": queued_total,
        "requests": [_row(v, names) for v in mine],
        "requests_total": sent_total,
        "sent": sent,
        "max_rows": MAX_ROWS,
    }
    return _no_store(render(request, "workbench/consultations.html", context, principal=principal))


# --- a new request ---------------------------------------------------------------------------


def _new_context(
    request: Request, session: Session, principal: Principal, form: dict[str, str]
) -> dict[str, Any]:
    from carematch.providers.service import list_providers

    locale = i18n.negotiate(request)
    _, views = list_providers(session, limit=MAX_PROVIDERS, offset=0, region=principal.jurisdiction)
    return {
        "providers": [
            (v.provider.id, i18n.localized_name(v.provider.name, v.provider.name_en, locale))
            for v in views
            if v.provider.kind in service.REQUESTING_KINDS
        ],
        "specialties": [(code, _label(locale, SPECIALTY_LABELS, code)) for code in SPECIALTIES],
        "urgencies": [(code, _label(locale, URGENCY_LABELS, code)) for code in URGENCIES],
        "form": form,
        "error": None,
        "csrf_token": token_for(request),
    }


@router.get("/new", response_class=HTMLResponse)
def new_form(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    person_id: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The request form: the patient, the clinic, the specialty, the question and the files."""
    context = _new_context(request, session, principal, {"person_id": person_id})
    return _no_store(
        render(request, "workbench/consultation_new.html", context, principal=principal)
    )


@router.post("/new", dependencies=[Depends(check_csrf)])
async def create(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    person_id: Short = "",
    from_provider_id: Short = "",
    specialty: Short = "",
    urgency: Short = "routine",
    question: Text = "",
    files: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Send the request; on success go to its page, else back to the form with the reason."""
    form = {
        "person_id": person_id.strip(),
        "from_provider_id": from_provider_id,
        "specialty": specialty,
        "urgency": urgency,
        "question": question,
    }
    locale = i18n.negotiate(request)
    try:
        uploads = await read_uploads(files or [])
        # The database and the encryption are blocking work: off the event loop.
        view = await run_in_threadpool(
            service.request_consultation,
            session,
            principal,
            person_id=form["person_id"],
            from_provider_id=from_provider_id,
            to_provider_id=None,
            specialty=specialty,
            urgency=urgency,
            question=question,
            uploads=uploads,
        )
    except CareMatchError as exc:
        session.rollback()
        context = _new_context(request, session, principal, form)
        context["error"] = i18n.gettext(locale, N_("The request was not sent:")) + " " + exc.detail
        response = render(
            request,
            "workbench/consultation_new.html",
            context,
            principal=principal,
            status_code=exc.status if exc.status < 500 else 400,
        )
        return _no_store(response)
    return review.committed_redirect(session, f"{BASE}/{view.consultation.id}?sent=1")


# --- one request -----------------------------------------------------------------------------


def _detail(
    request: Request,
    session: Session,
    principal: Principal,
    consultation_id: str,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    try:
        view = service.get_consultation(session, principal, consultation_id)
    except NotFound:
        raise review.not_found() from None
    c = view.consultation
    names = _Names(session, principal, locale)
    context = {
        "c": c,
        "row": _row(view, names),
        "attachments": [
            {
                "id": a.id,
                "name": a.file_name,
                "kind": _label(locale, KIND_LABELS, a.kind),
                "size_kb": max(1, round(a.size_bytes / 1024)),
                "url": f"/api/v1/consultations/{c.id}/attachments/{a.id}",
            }
            for a in view.attachments
        ],
        "moves": view.moves,
        "can_refer": REQUESTING in view.ends
        and c.status in (ANSWERED, CLOSED)
        and c.referral_id is None,
        "answered_at": _when(c.answered_at),
        "ended_at": _when(c.ended_at),
        "error": error,
        "form": form or {},
        "sent": request.query_params.get("sent"),
        "csrf_token": token_for(request),
        "ACCEPTED": ACCEPTED,
        "ANSWERED": ANSWERED,
        "DECLINED": DECLINED,
        "CANCELLED": CANCELLED,
        "CLOSED": CLOSED,
    }
    return _no_store(
        render(
            request,
            "workbench/consultation_detail.html",
            context,
            principal=principal,
            status_code=status_code,
        )
    )


@router.get("/{consultation_id}", response_class=HTMLResponse)
def detail_page(
    request: Request, session: SessionDep, principal: Doctor, consultation_id: str
) -> HTMLResponse:
    """One request: the question, the files, the answer, and the caller's moves."""
    return _detail(request, session, principal, consultation_id)


def _act(
    request: Request,
    session: Session,
    principal: Principal,
    consultation_id: str,
    what: str,
    form: dict[str, str] | None = None,
    **kwargs: Any,
) -> Response:
    """Make a move; back to the request's page, committed, or with the reason it failed."""
    locale = i18n.negotiate(request)
    back = f"{BASE}/{consultation_id}"
    try:
        getattr(service, what)(session, principal, consultation_id, **kwargs)
    except (NotFound, WrongEnd):
        session.rollback()
        raise review.not_found() from None
    except Conflict:
        return review.conflict_page(request, session, principal, back)
    except InvalidInput as exc:
        session.rollback()
        error = i18n.gettext(locale, N_("Not saved:")) + " " + exc.detail
        return _detail(
            request, session, principal, consultation_id, error=error, form=form, status_code=400
        )
    return review.committed_redirect(session, back)


Csrf = [Depends(check_csrf)]


@router.post("/{consultation_id}/accept", dependencies=Csrf)
def accept(
    request: Request, session: SessionDep, principal: Doctor, consultation_id: str
) -> Response:
    """Take the request (the specialist)."""
    return _act(request, session, principal, consultation_id, "accept")


@router.post("/{consultation_id}/answer", dependencies=Csrf)
def answer(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    consultation_id: str,
    findings: Text = "",
    advice: Text = "",
) -> Response:
    """Answer with findings and advice (the specialist)."""
    return _act(
        request,
        session,
        principal,
        consultation_id,
        "answer",
        form={"findings": findings, "advice": advice},
        findings=findings,
        advice=advice,
    )


@router.post("/{consultation_id}/decline", dependencies=Csrf)
def decline(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    consultation_id: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Decline, saying why (the specialist)."""
    return _act(request, session, principal, consultation_id, "decline", reason=reason)


@router.post("/{consultation_id}/cancel", dependencies=Csrf)
def cancel(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    consultation_id: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Withdraw the request (the clinic)."""
    return _act(request, session, principal, consultation_id, "cancel", reason=reason)


@router.post("/{consultation_id}/close", dependencies=Csrf)
def close(
    request: Request, session: SessionDep, principal: Doctor, consultation_id: str
) -> Response:
    """Close an answered request (the clinic)."""
    return _act(request, session, principal, consultation_id, "close")


@router.post("/{consultation_id}/refer", dependencies=Csrf)
def refer(
    request: Request,
    session: SessionDep,
    principal: Doctor,
    consultation_id: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Refer the patient up to the county hospital after the answer (the clinic)."""
    return _act(
        request,
        session,
        principal,
        consultation_id,
        "refer",
        form={"referral_reason": reason},
        reason=reason,
    )
