"""The family's vaccinations on the resident portal (家庭接种): for me and each registered
dependant (a parent's children), the doses due or overdue with open 15-minute slots to book,
the booked appointments with their pre-screening questionnaire, and the e-certificate with its
QR code to show or download.

A booking posts with the session's CSRF token and an idempotency key made when the page was
rendered (a double tap books once), and is answered with a redirect.
"""

from __future__ import annotations

import base64
import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.booking import service as booking
from carematch.booking.reminders import provider_name, when_text
from carematch.core.errors import CareMatchError
from carematch.identity.models import Person
from carematch.security.authz import Principal, require
from carematch.vaccination import appointments, certificate
from carematch.vaccination import service as vaccination
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for

Resident = Annotated[Principal, Depends(require("resident"))]
Short = Annotated[str, Form(max_length=128)]
IdParam = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]

router = APIRouter(
    prefix="/portal/vaccination",
    dependencies=[Depends(page_guard("resident"))],
    include_in_schema=False,
)
NO_STORE = {"Cache-Control": "no-store"}
SLOTS_SHOWN = 3

STATUS_LABELS = {
    "overdue": N_("Overdue"),
    "due": N_("Due now"),
}
APPOINTMENT_LABELS = {
    "booked": N_("Booked"),
    "checked_in": N_("Checked in"),
    "completed": N_("Completed"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}


def _member(session: Session, principal: Principal, person_id: str, locale: str) -> dict[str, Any]:
    """One family member's due doses (with slots) and vaccination appointments."""
    person = session.get(Person, person_id)
    member: dict[str, Any] = {
        "id": person_id,
        "name": (person.name if person else None) or person_id,
        "self": person_id == principal.person_id,
        "doses": [],
        "appointments": [],
        "problem": None,
    }
    try:
        _, doses = appointments.due_dose_slots(session, principal, person_id, per_dose=SLOTS_SHOWN)
    except CareMatchError as exc:
        member["problem"] = exc.detail
        return member
    for dose in doses:
        member["doses"].append(
            {
                "series": dose.series,
                "name": dose.name,
                "dose": dose.dose,
                "status": dose.status,
                "status_label": i18n.gettext(locale, STATUS_LABELS.get(dose.status, dose.status)),
                "due_date": dose.due_date.isoformat(),
                "slots": [
                    {
                        "id": offered.slot.id,
                        "when": when_text(offered.slot.starts_at),
                        "provider": provider_name(session, offered.slot.provider_id),
                    }
                    for offered in dose.slots
                ],
            }
        )
    for appointment, view in appointments.person_appointments(session, principal, person_id):
        status = view.booking.status
        member["appointments"].append(
            {
                "booking_id": view.booking.id,
                "series": appointment.series,
                "dose": appointment.dose,
                "when": when_text(view.slot.starts_at),
                "provider": provider_name(session, view.slot.provider_id),
                "status": status,
                "status_label": i18n.gettext(locale, APPOINTMENT_LABELS.get(status, status)),
            }
        )
    return member


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    members = [
        _member(session, principal, pid, locale) for pid in booking.own_persons(session, principal)
    ]
    context = {
        "members": members,
        "linked": principal.person_id is not None,
        "csrf_token": token_for(request),
        "booking_key": secrets.token_urlsafe(16),
        "error": error,
        "booked": request.query_params.get("booked") is not None,
    }
    response = render(
        request, "resident/vaccination.html", context, principal=principal, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


@router.get("", response_class=HTMLResponse)
def family_vaccinations(request: Request, session: SessionDep, principal: Resident) -> HTMLResponse:
    """Due and overdue doses of me and my dependants, with slots to book."""
    return _page(request, session, principal)


@router.post("/book", dependencies=[Depends(check_csrf)])
def book(
    request: Request,
    session: SessionDep,
    principal: Resident,
    slot_id: Short = "",
    person_id: Short = "",
    series: Short = "",
    key: Short = "",
) -> Response:
    """Book a 15-minute slot for a due dose of me or a dependant."""
    try:
        appointments.book_dose(
            session,
            principal,
            slot_id=slot_id,
            person_id=person_id,
            series=series,
            idempotency_key=f"portal-vx:{key}" if key else None,
        )
    except CareMatchError as exc:
        session.rollback()
        locale = i18n.negotiate(request)
        message = i18n.gettext(locale, "That could not be done:") + " " + exc.detail
        return _page(request, session, principal, error=message, status_code=exc.status)
    from carematch.web.workbench.review import committed_redirect

    return committed_redirect(
        session, "/portal/vaccination?" + urlencode({"booked": person_id}) + "#family"
    )


@router.get("/certificate", response_class=HTMLResponse)
def certificate_page(
    request: Request, session: SessionDep, principal: Resident, person_id: IdParam
) -> HTMLResponse:
    """A freshly signed certificate of the person's doses: its QR code (which opens the verify
    page), a download of the QR and of the certificate text, and the doses it certifies."""
    try:
        issued = vaccination.issue_person_certificate(
            session, principal, person_id, base_url=str(request.base_url)
        )
    except CareMatchError as exc:
        session.rollback()
        problem: dict[str, Any] = {"problem": exc.detail}
        return render(
            request,
            "resident/vaccination_certificate.html",
            problem,
            principal=principal,
            status_code=exc.status,
        )
    png = base64.b64encode(certificate.qr_png(issued.qr_text)).decode()
    content = issued.content
    context: dict[str, Any] = {
        "problem": None,
        "qr_png": png,
        "url": issued.qr_text,
        "encoded": issued.encoded,
        "certificate_id": content.certificate_id,
        "holder": content.holder,
        "doses": content.doses,
        "issued_at": when_text(content.issued_at),
    }
    response = render(
        request, "resident/vaccination_certificate.html", context, principal=principal
    )
    response.headers.update(NO_STORE)
    return response
