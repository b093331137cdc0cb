"""The workbench's complaint views (投诉办理): the open complaints of the official's area by
deadline, one complaint with its history and the forms that move it on, and the form on which
any staff member registers a complaint taken by phone, at a counter or by letter.

Every change goes through :mod:`carematch.feedback.service` — the state machine, deadlines and
jurisdiction live there; this module only turns forms into calls and errors into readable
pages. Form values are checked with the API's own shapes (:mod:`carematch.feedback.schemas`),
so a form and the API refuse the same input. Pages follow ``today.py``: light, phone-sized,
plain POSTs that carry the session's CSRF token and end in a redirect after the commit.

Who may do what is the API's rule: officials (and admin) read and handle complaints of their
jurisdiction; every staff role registers one. A complaint outside the jurisdiction is "not
found" (404), as in the API.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core import clock
from carematch.core.errors import CareMatchError, NotFound
from carematch.feedback import service
from carematch.feedback.complaints import CHANNELS, FINDING_STATUSES, STATUSES, allowed_from
from carematch.feedback.deadlines import category_table
from carematch.feedback.endpoints import COMPLAINT_READERS, FILERS, LEDGER_WORKERS
from carematch.feedback.models import Complaint
from carematch.feedback.schemas import ComplaintCreate, FindingCreate, ItemCreate, TransitionRequest
from carematch.identity.errors import PersonNotFound
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.providers.catalogue import service_catalogue
from carematch.providers.errors import ProviderNotFound
from carematch.providers.service import get_provider, list_providers
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.feedback.routes import COMPLAINT_STATUS_LABELS, ITEM_STATUS_LABELS
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

# The API's roles, less the resident (who has the portal, not the workbench).
HANDLERS = tuple(r for r in COMPLAINT_READERS if r != "resident")
REGISTRARS = tuple(r for r in FILERS if r != "resident")
Handler = Annotated[Principal, Depends(require(*HANDLERS))]
Registrar = Annotated[Principal, Depends(require(*REGISTRARS))]
PAGE_SIZE = 20
MAX_PROVIDERS = 200
NO_STORE = review.NO_STORE
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Filter = Annotated[str, Query(max_length=32)]
Text = Annotated[str, Form(max_length=6000)]
Short = Annotated[str, Form(max_length=400)]

CHANNEL_LABELS = {
    "hotline_12345": N_("12345 hotline"),
    "web": N_("Web portal"),
    "wechat": N_("WeChat"),
    "in_person": N_("In person"),
    "letter": N_("Letter"),
}
# What each move is called on its button, and what its note is for; (from, to) where the
# same target means something else from another status.
ACTION_LABELS = {
    "accepted": N_("Accept"),
    "rejected": N_("Do not accept"),
    "investigating": N_("Start investigating"),
    "answered": N_("Record the reply to the complainant"),
    "closed": N_("Close with the outcome"),
    ("answered", "investigating"): N_("Reopen: the reply was disputed"),
}
NOTE_LABELS = {
    "accepted": N_("Note (optional)"),
    "rejected": N_("Why it is not accepted (sent to the complainant)"),
    "investigating": N_("Who investigates, and any note"),
    "answered": N_("The reply to the complainant"),
    "closed": N_("The outcome"),
}
FIELD_LABELS = {
    "text": N_("Complaint"),
    "channel": N_("Channel"),
    "category": N_("Category"),
    "provider_id": N_("Provider"),
    "service": N_("Service"),
    "person_id": N_("Person ID"),
    "contact": N_("Contact for the reply"),
    "received_at": N_("Received at"),
    "note": N_("Note"),
    "to": N_("Action"),
    "measure": N_("Measure"),
    "deadline": N_("Deadline"),
    "owner_kind": N_("Owner"),
    "department": N_("Department"),
    "status": N_("Status"),
    "evidence_text": N_("Evidence"),
    "evidence_file": N_("Evidence file reference"),
}
# The list's status filter: open ones by default, or the late ones, or every complaint.
OPEN, OVERDUE, ALL = "", "overdue", "all"

router = APIRouter(prefix="/complaints", include_in_schema=False)


# --- shared by the workbench's feedback pages ------------------------------------------------


def when(at: datetime | None) -> str:
    """A stored time as the city's wall clock, to the minute."""
    return f"{service.city_time(at):%Y-%m-%d %H:%M}" if at is not None else ""


def late_by(due: datetime, now: datetime) -> tuple[int, int]:
    """How long past ``due`` it is at ``now``, in whole days and hours."""
    hours = int((now - service.as_utc(due)) // timedelta(hours=1))
    return hours // 24, hours % 24


def invalid_message(locale: str, exc: ValidationError) -> str:
    """A pydantic refusal as one line a person can act on: the field's name, then why."""
    parts = []
    for error in exc.errors():
        field = next((str(p) for p in reversed(error["loc"]) if isinstance(p, str)), "")
        label = FIELD_LABELS.get(field)
        name = i18n.gettext(locale, label) if label else field
        parts.append(f"{name}: {error['msg']}" if name else str(error["msg"]))
    return "; ".join(parts)


def pager(base: str, total: int, offset: int, params: Mapping[str, str]) -> dict[str, Any]:
    """Links to the previous and next pages, keeping the filters that are set."""
    kept = {k: v for k, v in params.items() if v}

    def url(at: int) -> str:
        return base + "?" + urlencode({**kept, **({"offset": at} if at else {})})

    return {
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "first": offset + 1,
        "prev_url": url(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next_url": url(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


def category_labels(locale: str) -> dict[str, str]:
    """Each complaint category's name in the page's language."""
    return {
        c.code: i18n.localized_name(c.name, c.name_en, locale)
        for c in category_table().categories.values()
    }


class ProviderNames:
    """Providers' display names, each looked up once (a list names a few, many times)."""

    def __init__(self, session: Session, locale: str) -> None:
        self.session = session
        self.locale = locale
        self.cache: dict[str, str] = {}

    def __call__(self, provider_id: str | None) -> str:
        if not provider_id:
            return ""
        if provider_id not in self.cache:
            try:
                p = get_provider(self.session, provider_id).provider
                self.cache[provider_id] = i18n.localized_name(p.name, p.name_en, self.locale)
            except ProviderNotFound:  # pragma: no cover - a complaint keeps its provider
                self.cache[provider_id] = provider_id
        return self.cache[provider_id]


def service_name(code: str | None, locale: str) -> str:
    """A service catalogue entry's name in the page's language ("" for none)."""
    if not code:
        return ""
    info = service_catalogue().get(code)
    return i18n.localized_name(info.name, info.name_en, locale) if info else code


def roles_of(principal: Principal) -> dict[str, bool]:
    """Which of the feedback pages this user may open (the API's roles; admin all)."""
    every = principal.unrestricted
    return {
        "handler": every or principal.role in HANDLERS,
        "ledger": every or principal.role in LEDGER_WORKERS,
        "registrar": every or principal.role in REGISTRARS,
    }


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    principal: Principal,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a workbench feedback page; never cached (complaints quote people)."""
    values = {"csrf_token": token_for(request), "error": None, **context}
    response = render(request, template, values, principal=principal, status_code=status_code)
    response.headers.update(NO_STORE)
    return response


# --- the navigation with its counters ---------------------------------------------------------


@router.get("/nav", response_class=HTMLResponse)
def feedback_nav(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require(*REGISTRARS))],
) -> HTMLResponse:
    """The links to the complaint, ledger and qualification-review pages with what waits in
    each (open, overdue): a fragment the workbench's pages load in their navigation."""
    roles = roles_of(principal)
    counts = service.workload(session, principal) if roles["ledger"] else None
    return render(
        request,
        "workbench/complaint_nav.html",
        {"counts": counts, "loaded": True, **roles},
        principal=principal,
    )


# --- the list --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintRow:
    """One line of the complaint list."""

    id: str
    received: str
    due: str
    overdue: bool
    late_days: int
    late_hours: int
    status: str
    status_label: str
    category: str
    channel: str
    provider: str
    service: str
    anonymous: bool


def _row(
    view: service.ComplaintView,
    now: datetime,
    locale: str,
    categories: dict[str, str],
    providers: Callable[[str | None], str],
) -> ComplaintRow:
    c = view.complaint
    days, hours = late_by(c.due_at, now) if view.overdue else (0, 0)
    return ComplaintRow(
        id=c.id,
        received=when(c.received_at),
        due=when(c.due_at),
        overdue=view.overdue,
        late_days=days,
        late_hours=hours,
        status=c.status,
        status_label=i18n.gettext(locale, COMPLAINT_STATUS_LABELS.get(c.status, c.status)),
        category=categories.get(c.category, c.category),
        channel=i18n.gettext(locale, CHANNEL_LABELS.get(c.channel, c.channel)),
        provider=providers(c.provider_id),
        service=service_name(c.service_code, locale),
        anonymous=c.complainant_person_id is None,
    )


def _status_options(locale: str) -> list[tuple[str, str]]:
    options = [
        (OPEN, i18n.gettext(locale, N_("Open (not closed)"))),
        (OVERDUE, i18n.gettext(locale, N_("Overdue"))),
        (ALL, i18n.gettext(locale, N_("All"))),
    ]
    return options + [(s, i18n.gettext(locale, COMPLAINT_STATUS_LABELS[s])) for s in STATUSES]


@router.get("", response_class=HTMLResponse, dependencies=[Depends(page_guard(*HANDLERS))])
def complaints_page(
    request: Request,
    session: SessionDep,
    principal: Handler,
    status: Filter = OPEN,
    category: Filter = "",
    channel: Filter = "",
    offset: Offset = 0,
) -> HTMLResponse:
    """The complaints of the official's area, the nearest deadline first, late ones flagged
    with how late they are; filtered by status, category and channel, a page at a time."""
    locale = i18n.negotiate(request)
    now = clock.utcnow()
    error = None
    try:
        total, views = service.list_complaints(
            session,
            principal,
            limit=PAGE_SIZE,
            offset=offset,
            status=status if status not in (OPEN, OVERDUE, ALL) else None,
            overdue=True if status == OVERDUE else None,
            open_only=status == OPEN,
            category=category or None,
            channel=channel or None,
            by_deadline=True,
        )
    except CareMatchError as exc:
        error, total, views = exc.detail, 0, []
    categories = category_labels(locale)
    providers = ProviderNames(session, locale)
    filters = {"status": status, "category": category, "channel": channel}
    context: dict[str, Any] = {
        "rows": [_row(v, now, locale, categories, providers) for v in views],
        "filters": filters,
        "status_options": _status_options(locale),
        "category_options": sorted(categories.items(), key=lambda c: c[0]),
        "channel_options": [(c, i18n.gettext(locale, CHANNEL_LABELS[c])) for c in CHANNELS],
        "pages": pager("/workbench/complaints", total, offset, filters),
        "registered": None,
        **roles_of(principal),
    }
    if error is not None:
        context["error"] = i18n.gettext(locale, N_("The filter was not understood:")) + " " + error
    return page(
        request, "workbench/complaints.html", context, principal, 400 if error is not None else 200
    )


# --- registering a complaint -----------------------------------------------------------------


def _register_context(
    request: Request, session: Session, principal: Principal, form: Mapping[str, str]
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    _, views = list_providers(session, limit=MAX_PROVIDERS, offset=0, region=principal.jurisdiction)
    return {
        "form": {"channel": "hotline_12345", **form},
        "channel_options": [(c, i18n.gettext(locale, CHANNEL_LABELS[c])) for c in CHANNELS],
        "category_options": list(category_labels(locale).items()),
        "providers": [
            (v.provider.id, i18n.localized_name(v.provider.name, v.provider.name_en, locale))
            for v in views
        ],
        "services": [
            (code, i18n.localized_name(info.name, info.name_en, locale))
            for code, info in service_catalogue().items()
        ],
        **roles_of(principal),
    }


@router.get("/new", response_class=HTMLResponse)
def register_form(
    request: Request,
    session: SessionDep,
    principal: Registrar,
    registered: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The form for a complaint taken by phone, at the counter or by letter."""
    context = _register_context(request, session, principal, {})
    context["registered"] = registered if service.ROW_ID.match(registered) else None
    return page(request, "workbench/complaint_new.html", context, principal)


@router.post("/new", dependencies=[Depends(check_csrf)])
def register(
    request: Request,
    session: SessionDep,
    principal: Registrar,
    channel: Short = "",
    category: Short = "",
    provider_id: Short = "",
    service_code: Annotated[str, Form(alias="service", max_length=400)] = "",
    person_id: Short = "",
    contact: Short = "",
    received_at: Short = "",
    text: Text = "",
) -> Response:
    """Register the complaint; its handler (the provider's district) sees it at once.

    The official who handles it goes on to its page; anyone else comes back to an empty form
    with the complaint's reference.
    """
    locale = i18n.negotiate(request)
    form = {
        "channel": channel,
        "category": category,
        "provider_id": provider_id,
        "service": service_code,
        "person_id": person_id,
        "contact": contact,
        "received_at": received_at,
        "text": text,
    }
    try:
        body = ComplaintCreate.model_validate({k: v.strip() or None for k, v in form.items()})
        view = service.file_complaint(
            session,
            principal,
            channel=body.channel,
            category=body.category,
            text=body.text,
            provider_id=body.provider_id,
            service_code=body.service,
            person_id=body.person_id,
            contact=body.contact,
            received_at=body.received_at,
        )
    except (ValidationError, CareMatchError) as exc:
        session.rollback()
        why = invalid_message(locale, exc) if isinstance(exc, ValidationError) else exc.detail
        status = exc.status if isinstance(exc, CareMatchError) else 400
        context = _register_context(request, session, principal, form)
        context["error"] = i18n.gettext(locale, N_("The complaint was not registered:")) + " " + why
        context["registered"] = None
        return page(request, "workbench/complaint_new.html", context, principal, status)
    complaint = view.complaint
    if service.may_handle(principal, complaint):
        return review.committed_redirect(
            session, f"/workbench/complaints/{complaint.id}?" + urlencode({"done": "registered"})
        )
    return review.committed_redirect(
        session, "/workbench/complaints/new?" + urlencode({"registered": complaint.id})
    )


# --- one complaint ---------------------------------------------------------------------------


def _complainant(session: Session, principal: Principal, c: Complaint) -> PersonSummary | None:
    if c.complainant_person_id is None:
        return None
    try:
        return PersonSummary.of(visible_person(session, principal, c.complainant_person_id))
    except PersonNotFound:
        return None  # a resident of another district complaining about this one's provider


def _actions(locale: str, status: str) -> list[dict[str, Any]]:
    actions = []
    for target in allowed_from(status):
        label = ACTION_LABELS.get((status, target)) or ACTION_LABELS[target]
        actions.append(
            {
                "to": target,
                "label": i18n.gettext(locale, label),
                "note_label": i18n.gettext(locale, NOTE_LABELS[target]),
                "note_required": target in ("answered", "rejected"),
            }
        )
    return actions


def _detail_context(
    request: Request, session: Session, principal: Principal, complaint_id: str
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    try:
        view = service.read_complaint(session, principal, complaint_id)
    except NotFound:
        raise review.not_found() from None
    c = view.complaint
    now = clock.utcnow()
    categories = category_labels(locale)
    providers = ProviderNames(session, locale)
    _, items = service.list_items(session, principal, limit=50, offset=0, complaint_id=c.id)
    from carematch.web.workbench.rectification import item_row

    def status_label(code: str | None) -> str:
        return i18n.gettext(locale, COMPLAINT_STATUS_LABELS.get(code, code)) if code else ""

    return {
        "c": c,
        "row": _row(view, now, locale, categories, providers),
        "text": c.text,
        "contact": c.contact,
        "person": _complainant(session, principal, c),
        "events": [
            {
                "seq": e.seq,
                "at": when(e.at),
                "from": status_label(e.from_status),
                "to": status_label(e.to_status),
                "to_code": e.to_status,
                "actor": e.actor,
                "note": e.note,
            }
            for e in view.events
        ],
        "actions": _actions(locale, c.status),
        "can_find": c.status in FINDING_STATUSES,
        "has_provider": c.provider_id is not None,
        "items": [item_row(v, locale, service.city_today()) for v in items],
        "item_labels": ITEM_STATUS_LABELS,
        "min_date": service.city_today().isoformat(),
        "form": {},
        "open_form": None,
        **roles_of(principal),
    }


def _detail_page(
    request: Request,
    session: Session,
    principal: Principal,
    complaint_id: str,
    done: str = "",
    error: str | None = None,
    form: Mapping[str, str] | None = None,
    open_form: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = _detail_context(request, session, principal, complaint_id)
    context.update(
        {
            "done": done,
            "error": error,
            "form": dict(form or {}),
            "open_form": open_form,
        }
    )
    return page(request, "workbench/complaint.html", context, principal, status_code)


DONE = {"registered", "finding", *STATUSES}


@router.get(
    "/{complaint_id}", response_class=HTMLResponse, dependencies=[Depends(page_guard(*HANDLERS))]
)
def complaint_page(
    request: Request,
    session: SessionDep,
    principal: Handler,
    complaint_id: str,
    done: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """A complaint with its text, complainant, history and rectification items, and the forms
    for its next steps (the read is audited)."""
    return _detail_page(
        request, session, principal, complaint_id, done=done if done in DONE else ""
    )


def _refused(
    request: Request,
    session: Session,
    principal: Principal,
    complaint_id: str,
    exc: ValidationError | CareMatchError,
    form: Mapping[str, str],
    open_form: str,
) -> Response:
    """The complaint's page again with the reason the form was refused and what was typed."""
    session.rollback()
    if isinstance(exc, NotFound) and not isinstance(exc, (PersonNotFound, ProviderNotFound)):
        raise review.not_found()
    locale = i18n.negotiate(request)
    why = invalid_message(locale, exc) if isinstance(exc, ValidationError) else exc.detail
    message = i18n.gettext(locale, N_("Nothing was changed:")) + " " + why
    status = exc.status if isinstance(exc, CareMatchError) else 400
    return _detail_page(
        request,
        session,
        principal,
        complaint_id,
        error=message,
        form=form,
        open_form=open_form,
        status_code=status,
    )


@router.post(
    "/{complaint_id}/transition",
    dependencies=[Depends(page_guard(*HANDLERS)), Depends(check_csrf)],
)
def transition(
    request: Request,
    session: SessionDep,
    principal: Handler,
    complaint_id: str,
    to: Short = "",
    note: Text = "",
) -> Response:
    """Accept, refuse, investigate, reply, reopen or close the complaint, with its note."""
    try:
        body = TransitionRequest.model_validate({"to": to, "note": note.strip() or None})
        service.transition_complaint(session, principal, complaint_id, body.to, body.note)
    except (ValidationError, CareMatchError) as exc:
        form = {"to": to, "note": note}
        return _refused(request, session, principal, complaint_id, exc, form, f"to-{to}")
    return review.committed_redirect(
        session, f"/workbench/complaints/{complaint_id}?" + urlencode({"done": to})
    )


@router.post(
    "/{complaint_id}/finding",
    dependencies=[Depends(page_guard(*HANDLERS)), Depends(check_csrf)],
)
def record_finding(
    request: Request,
    session: SessionDep,
    principal: Handler,
    complaint_id: str,
    text: Text = "",
    measure: Text = "",
    deadline: Short = "",
    owner_kind: Short = "provider",
    department: Short = "",
) -> Response:
    """Record what the investigation found and open its rectification item: the provider
    complained about (or a department) must take the measure by the deadline."""
    form = {
        "text": text,
        "measure": measure,
        "deadline": deadline,
        "owner_kind": owner_kind,
        "department": department,
    }
    try:
        item = ItemCreate.model_validate(
            {
                "measure": measure.strip(),
                "deadline": deadline.strip(),
                "owner_kind": owner_kind,
                "department": department.strip() or None,
            }
        )
        body = FindingCreate(
            source="complaint", complaint_id=complaint_id, text=text.strip(), items=[item]
        )
        service.open_finding(
            session,
            principal,
            source=body.source,
            text=body.text,
            complaint_id=body.complaint_id,
            items=[
                service.ItemDraft(
                    measure=i.measure,
                    deadline=i.deadline,
                    owner_kind=i.owner_kind,
                    department=i.department,
                )
                for i in body.items
            ],
        )
    except (ValidationError, CareMatchError) as exc:
        return _refused(request, session, principal, complaint_id, exc, form, "finding")
    return review.committed_redirect(
        session, f"/workbench/complaints/{complaint_id}?" + urlencode({"done": "finding"})
    )
