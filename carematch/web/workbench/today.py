"""The workbench's "today" (今日工作台): today's appointments of the staff member's area with
check-in, the service-record form, and the tasks — follow-ups due, SLA breaches and clocks
about to run out.

Pages are server-rendered and light (no script beyond what base.html loads): a doctor uses them
on a phone at the consulting-room door. Every change is a plain POST carrying the session's
CSRF token, answered with a redirect (a reload never repeats it) after the change is committed.
Persons are shown masked (as in every workbench list); the list is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.booking import clocks, records, service, sla
from carematch.booking.endpoints import CLINIC, RESPONDERS
from carematch.booking.models import OUTCOMES, ServiceRecord
from carematch.core.clock import city_today, utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.identity.errors import PersonNotFound
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.providers.catalogue import service_catalogue
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

STAFF = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs")
Staff = Annotated[Principal, Depends(require(*STAFF))]
Clinic = Annotated[Principal, Depends(require(*CLINIC))]
Responder = Annotated[Principal, Depends(require(*RESPONDERS))]

# The most appointments one page shows; an official of a whole city narrows by provider.
MAX_APPOINTMENTS = 200
MAX_TASKS = 50
# Follow-ups due within this many days are listed (overdue ones always).
FOLLOWUP_HORIZON = timedelta(days=7)
DUE_SOON = timedelta(hours=2)
NO_STORE = review.NO_STORE

STATUS_LABELS = {
    "booked": N_("Booked"),
    "checked_in": N_("Checked in"),
    "completed": N_("Completed"),
    "no_show": N_("No-show"),
    "cancelled": N_("Cancelled"),
}
OUTCOME_LABELS = {
    "resolved": N_("Done, nothing more needed"),
    "follow_up": N_("Done, follow up later"),
    "referred": N_("Referred elsewhere"),
    "not_done": N_("Not done"),
}
CLOCK_LABELS = {
    sla.DEMAND_RESPONSE: N_("Raised need not answered within 24 hours"),
    sla.ONLINE_CONSULTATION: N_("Online consultation not taken within 30 minutes"),
    sla.REMOTE_CONSULTATION: N_("Remote consultation not answered within 30 minutes"),
}

router = APIRouter(prefix="/today", include_in_schema=False)


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=CITY_TZ)
    return start, start + timedelta(days=1)


def _service_name(code: str, locale: str) -> str:
    info = service_catalogue().get(code)
    return i18n.localized_name(info.name, info.name_en, locale) if info else code


def _clock_time(at: datetime) -> str:
    return f"{service.city_time(at):%H:%M}"


def _when(at: datetime) -> str:
    return f"{service.city_time(at):%Y-%m-%d %H:%M}"


class _People:
    """Masked summaries of persons, looked up once each, within the principal's jurisdiction."""

    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.cache: dict[str, PersonSummary | None] = {}

    def __call__(self, person_id: str) -> PersonSummary | None:
        if person_id not in self.cache:
            try:
                found = visible_person(self.session, self.principal, person_id)
                self.cache[person_id] = PersonSummary.of(found)
            except PersonNotFound:
                self.cache[person_id] = None  # a visitor from outside the area
        return self.cache[person_id]


@dataclass(frozen=True)
class Appointment:
    """One row of today's list."""

    id: str
    time: str
    end: str
    person: PersonSummary | None
    person_id: str
    service: str
    provider_id: str
    provider: str
    site: str | None
    status: str
    status_label: str
    can_check_in: bool
    can_record: bool


def _provider_names(session: Session, ids: set[str], locale: str) -> dict[str, str]:
    """Display names of a few providers (those with appointments today)."""
    from carematch.providers.errors import ProviderNotFound
    from carematch.providers.service import get_provider

    names = {}
    for provider_id in sorted(ids):
        try:
            p = get_provider(session, provider_id).provider
            names[provider_id] = i18n.localized_name(p.name, p.name_en, locale)
        except ProviderNotFound:  # pragma: no cover - a slot keeps its provider
            names[provider_id] = provider_id
    return names


def _appointments(
    session: Session,
    principal: Principal,
    day: date,
    provider: str | None,
    locale: str,
    people: _People,
) -> tuple[list[Appointment], int, list[tuple[str, str]]]:
    start, end = _day_bounds(day)
    total, views = service.list_bookings(
        session,
        principal,
        limit=MAX_APPOINTMENTS,
        offset=0,
        provider_id=provider,
        start_from=start,
        start_to=end,
    )
    clinic = principal.unrestricted or principal.role in CLINIC
    rows = []
    names = _provider_names(session, {v.slot.provider_id for v in views}, locale)
    for view in views:
        b, s = view.booking, view.slot
        if b.status == "cancelled":
            continue
        rows.append(
            Appointment(
                id=b.id,
                time=_clock_time(s.starts_at),
                end=_clock_time(s.ends_at),
                person=people(b.person_id),
                person_id=b.person_id,
                service=_service_name(s.service, locale),
                provider_id=s.provider_id,
                provider=names[s.provider_id],
                site=s.site,
                status=b.status,
                status_label=i18n.gettext(locale, STATUS_LABELS[b.status]),
                can_check_in=clinic and b.status == "booked",
                can_record=clinic and b.status in ("booked", "checked_in"),
            )
        )
    return rows, total, sorted(names.items(), key=lambda item: item[1])


def _tasks(
    session: Session, principal: Principal, today: date, locale: str, people: _People
) -> dict[str, Any]:
    now = utcnow()
    followups = [
        {
            "record_id": r.id,
            "person": people(r.person_id),
            "person_id": r.person_id,
            "service": _service_name(r.service, locale),
            "service_code": r.service,
            "provider_id": r.provider_id,
            "due": r.next_followup_on,
            "overdue": r.next_followup_on is not None and r.next_followup_on < today,
        }
        for r in records.followups_due(
            session, principal, until=today + FOLLOWUP_HORIZON, limit=MAX_TASKS
        )
    ]

    def clock_view(row: Any) -> dict[str, Any]:
        late = now - clocks._utc(row.deadline_at)
        minutes = int(abs(late.total_seconds()) // 60)
        return {
            "id": row.id,
            "kind": row.kind,
            "label": i18n.gettext(locale, CLOCK_LABELS.get(row.kind, row.kind)),
            "person": people(row.person_id),
            "person_id": row.person_id,
            "service": _service_name(row.service, locale),
            "deadline": _when(row.deadline_at),
            "hours": minutes // 60,
            "minutes": minutes % 60,
            "can_contact": row.kind == sla.DEMAND_RESPONSE
            and (principal.unrestricted or principal.role in RESPONDERS),
        }

    return {
        "followups": followups,
        "breaches": [
            clock_view(r) for r in clocks.open_breaches(session, principal, limit=MAX_TASKS)
        ],
        "due_soon": [
            clock_view(r)
            for r in clocks.due_soon(session, principal, within_=DUE_SOON, limit=MAX_TASKS)
        ],
    }


def _recorded_notice(
    session: Session, principal: Principal, record_id: str | None, locale: str, people: _People
) -> dict[str, Any] | None:
    if not record_id:
        return None
    try:
        record = records.visible_record(session, principal, record_id)
    except NotFound:
        return None
    return {
        "id": record.id,
        "person": people(record.person_id),
        "service": _service_name(record.service, locale),
        "served": len(record.demand_ids.split()),
        "next": record.next_followup_on,
    }


@router.get("", response_class=HTMLResponse)
def today_page(
    request: Request,
    session: SessionDep,
    principal: Staff,
    provider: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] = None,
    recorded: Annotated[str | None, Query(max_length=64)] = None,
    checked_in: Annotated[str | None, Query(max_length=64)] = None,
    contacted: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Today's appointments, the check-in buttons and the tasks of the caller's area."""
    locale = i18n.negotiate(request)
    today = city_today()
    people = _People(session, principal)
    appointments, total, providers = _appointments(
        session, principal, today, provider, locale, people
    )
    tasks = _tasks(session, principal, today, locale, people)
    audit.record(
        session,
        actor=principal.username,
        action="list_today",
        entity="person",
        entity_id="*",
        detail={
            "appointments": len(appointments),
            "followups": len(tasks["followups"]),
            "provider": provider,
            "via": "web",
        },
    )
    context = {
        "today": today.isoformat(),
        "appointments": appointments,
        "total": total,
        "capped": total > MAX_APPOINTMENTS,
        "providers": providers,
        "provider": provider,
        "recorded": _recorded_notice(session, principal, recorded, locale, people),
        "checked_in": checked_in,
        "contacted": contacted,
        "csrf_token": token_for(request),
        "clinic": principal.unrestricted or principal.role in CLINIC,
        **tasks,
    }
    response = render(request, "workbench/today.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


@router.post(
    "/bookings/{booking_id}/check-in",
    dependencies=[Depends(page_guard(*CLINIC)), Depends(check_csrf)],
)
def check_in(request: Request, session: SessionDep, principal: Clinic, booking_id: str) -> Response:
    """Check the person in; back to today's list."""
    try:
        service.check_in(session, principal, booking_id)
    except NotFound:
        raise review.not_found() from None
    except Conflict:
        return review.conflict_page(request, session, principal, "/workbench/today")
    return review.committed_redirect(
        session, "/workbench/today?" + urlencode({"checked_in": booking_id})
    )


def _outcomes(locale: str) -> list[tuple[str, str]]:
    return [(code, i18n.gettext(locale, OUTCOME_LABELS[code])) for code in OUTCOMES]


def _form_page(
    request: Request,
    session: SessionDep,
    principal: Principal,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    values = {
        "outcomes": _outcomes(locale),
        "csrf_token": token_for(request),
        "error": None,
        "form": {},
        "min_date": (city_today() + timedelta(days=1)).isoformat(),
        **context,
    }
    response = render(
        request, "workbench/today_record.html", values, principal=principal, status_code=status_code
    )
    response.headers.update(NO_STORE)
    return response


def _booking_context(
    request: Request, session: Session, principal: Principal, booking_id: str
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    try:
        view = service.visible_booking(session, principal, booking_id)
    except NotFound:
        raise review.not_found() from None
    b, s = view.booking, view.slot
    people = _People(session, principal)
    return {
        "action": f"/workbench/today/bookings/{b.id}/record",
        "walk_in": False,
        "booking": {
            "id": b.id,
            "status": b.status,
            "status_label": i18n.gettext(locale, STATUS_LABELS[b.status]),
            "time": _clock_time(s.starts_at),
        },
        "person": people(b.person_id),
        "person_id": b.person_id,
        "service": _service_name(s.service, locale),
        "service_code": s.service,
        "recordable": b.status in ("booked", "checked_in"),
    }


@router.get("/bookings/{booking_id}/record", response_class=HTMLResponse)
def record_form(
    request: Request, session: SessionDep, principal: Clinic, booking_id: str
) -> HTMLResponse:
    """The service-record form for a booking (a phone-sized page)."""
    return _form_page(
        request, session, principal, _booking_context(request, session, principal, booking_id)
    )


def _parse_day(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("the follow-up date is not a date") from None


@dataclass(frozen=True)
class _Form:
    summary: str
    outcome: str
    notes: str
    next_followup_on: str

    def as_dict(self) -> dict[str, str]:
        return {
            "summary": self.summary,
            "outcome": self.outcome,
            "notes": self.notes,
            "next_followup_on": self.next_followup_on,
        }


def _write(
    request: Request,
    session: Session,
    principal: Principal,
    form: _Form,
    context: dict[str, Any],
    **visit: Any,
) -> Response:
    """Write the record from the form: on success commit and go back to today's list; a form
    that cannot be saved comes back with its values and the reason."""
    locale = i18n.negotiate(request)
    try:
        result: ServiceRecord = records.write(
            session,
            principal,
            summary=form.summary,
            outcome=form.outcome or None,
            notes=form.notes,
            next_followup_on=_parse_day(form.next_followup_on),
            **visit,
        ).record
    except NotFound as exc:
        session.rollback()
        if not context.get("walk_in"):
            raise review.not_found() from None
        # A mistyped person id on the walk-in form: say so on the form, keep what was typed.
        error = i18n.gettext(locale, N_("The record was not saved:")) + " " + exc.detail
        return _form_page(
            request,
            session,
            principal,
            {**context, "error": error, "form": form.as_dict()},
            status_code=404,
        )
    except Conflict:
        return review.conflict_page(request, session, principal, "/workbench/today")
    except InvalidInput as exc:
        session.rollback()
        error = i18n.gettext(locale, N_("The record was not saved:")) + " " + exc.detail
        return _form_page(
            request,
            session,
            principal,
            {**context, "error": error, "form": form.as_dict()},
            status_code=400,
        )
    return review.committed_redirect(
        session, "/workbench/today?" + urlencode({"recorded": result.id})
    )


Text = Annotated[str, Form(max_length=5000)]
Short = Annotated[str, Form(max_length=64)]


@router.post(
    "/bookings/{booking_id}/record",
    dependencies=[Depends(page_guard(*CLINIC)), Depends(check_csrf)],
)
def write_record(
    request: Request,
    session: SessionDep,
    principal: Clinic,
    booking_id: str,
    summary: Text = "",
    outcome: Short = "",
    notes: Text = "",
    next_followup_on: Short = "",
) -> Response:
    """Save the service record of a booking: the booking completes, its demand is served."""
    context = _booking_context(request, session, principal, booking_id)
    form = _Form(summary, outcome, notes, next_followup_on)
    return _write(request, session, principal, form, context, booking_id=booking_id)


def _walk_in_context(
    request: Request,
    session: Session,
    principal: Principal,
    person_id: str,
    provider_id: str,
    service_code: str,
) -> dict[str, Any]:
    from carematch.providers.service import list_providers

    locale = i18n.negotiate(request)
    _, views = list_providers(
        session, limit=MAX_APPOINTMENTS, offset=0, region=principal.jurisdiction
    )
    return {
        "action": "/workbench/today/walk-in",
        "walk_in": True,
        "person_id": person_id,
        "provider_id": provider_id,
        "service_code": service_code,
        "providers": [(v.provider.id, v.provider.name) for v in views],
        "services": [
            (code, i18n.localized_name(info.name, info.name_en, locale))
            for code, info in service_catalogue().items()
        ],
        "recordable": True,
    }


@router.get("/walk-in", response_class=HTMLResponse, dependencies=[Depends(page_guard(*CLINIC))])
def walk_in_form(
    request: Request,
    session: SessionDep,
    principal: Clinic,
    person_id: Annotated[str, Query(max_length=64)] = "",
    provider_id: Annotated[str, Query(max_length=64)] = "",
    service_code: Annotated[str, Query(alias="service", max_length=64)] = "",
) -> HTMLResponse:
    """The service-record form for a person served without a booking (a walk-in, a follow-up
    visit at home)."""
    context = _walk_in_context(request, session, principal, person_id, provider_id, service_code)
    return _form_page(request, session, principal, context)


@router.post("/walk-in", dependencies=[Depends(page_guard(*CLINIC)), Depends(check_csrf)])
def write_walk_in(
    request: Request,
    session: SessionDep,
    principal: Clinic,
    person_id: Short = "",
    provider_id: Short = "",
    service_code: Annotated[str, Form(alias="service", max_length=64)] = "",
    summary: Text = "",
    outcome: Short = "",
    notes: Text = "",
    next_followup_on: Short = "",
) -> Response:
    """Save a walk-in's service record; the person's open demands for the service are served."""
    context = _walk_in_context(request, session, principal, person_id, provider_id, service_code)
    form = _Form(summary, outcome, notes, next_followup_on)
    return _write(
        request,
        session,
        principal,
        form,
        context,
        person_id=person_id.strip(),
        provider_id=provider_id.strip(),
        service=service_code.strip(),
    )


@router.post(
    "/clocks/{clock_id}/contact",
    dependencies=[Depends(page_guard(*RESPONDERS)), Depends(check_csrf)],
)
def contact(request: Request, session: SessionDep, principal: Responder, clock_id: str) -> Response:
    """Record that the person was contacted about a raised need (answers its SLA clock)."""
    try:
        clocks.record_contact(session, principal, clock_id)
    except NotFound:
        raise review.not_found() from None
    except Conflict:
        return review.conflict_page(request, session, principal, "/workbench/today")
    return review.committed_redirect(session, "/workbench/today?" + urlencode({"contacted": "1"}))
