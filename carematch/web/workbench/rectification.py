"""The workbench's rectification ledger (整改台账) and the providers flagged for qualification
review (资质复核).

The ledger page lists the items of the user's area by deadline, overdue ones flagged; an item's
page reports progress — a new status, evidence (a text, a document-store reference) — through
:func:`carematch.feedback.service.update_item`, which enforces the ledger's rules (``done``
needs evidence, only an official verifies, a verified item is closed for good). Officials and
the providers' doctors work on the ledger, as in the API.

The flag page lists the low-rating flags with the periods that raised them. It is read-only:
the feedback domain records no review outcome yet (a flag has a status column but no service
call, reviewer or decision to go with it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core.errors import CareMatchError, NotFound
from carematch.feedback import service
from carematch.feedback.endpoints import LEDGER_WORKERS
from carematch.feedback.ledger import ITEM_TRANSITIONS, SHOWN_STATUSES, UNFINISHED
from carematch.feedback.schemas import RectificationUpdate
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.feedback.routes import ITEM_STATUS_LABELS
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.workbench import review
from carematch.web.workbench.complaints import (
    HANDLERS,
    PAGE_SIZE,
    Offset,
    ProviderNames,
    category_labels,
    invalid_message,
    page,
    pager,
    roles_of,
    when,
)
from carematch.web.workbench.csrf import check_csrf

LedgerWorker = Annotated[Principal, Depends(require(*LEDGER_WORKERS))]
Handler = Annotated[Principal, Depends(require(*HANDLERS))]

# What each move of an item is called where a person chooses it.
MOVE_LABELS = {
    "in_progress": N_("Start rectifying"),
    "done": N_("Rectified (needs evidence)"),
    "verified": N_("Verify and close"),
    ("done", "in_progress"): N_("Refuse the evidence: back to rectifying"),
}

router = APIRouter(prefix="/rectification", include_in_schema=False)
flags_router = APIRouter(prefix="/provider-flags", include_in_schema=False)


@dataclass(frozen=True)
class ItemRow:
    """One line of the ledger as the workbench shows it."""

    id: str
    owner: str
    category: str
    measure: str
    deadline: str
    status: str
    status_label: str
    overdue_days: int
    has_evidence: bool


def item_row(view: service.ItemView, locale: str, today: date) -> ItemRow:
    """A ledger item for a list: its shown status, and how many days late an overdue one is."""
    i = view.item
    return ItemRow(
        id=i.id,
        owner=i18n.localized_name(i.owner_name, i.owner_name_en or i.owner_name, locale),
        category=category_labels(locale).get(i.category, i.category),
        measure=i.measure,
        deadline=i.deadline.isoformat(),
        status=view.status,
        status_label=i18n.gettext(locale, ITEM_STATUS_LABELS.get(view.status, view.status)),
        overdue_days=(today - i.deadline).days if view.status == "overdue" else 0,
        has_evidence=bool(i.evidence_text or i.evidence_file),
    )


@router.get("", response_class=HTMLResponse, dependencies=[Depends(page_guard(*LEDGER_WORKERS))])
def ledger_page(
    request: Request,
    session: SessionDep,
    principal: LedgerWorker,
    status: Annotated[str, Query(max_length=32)] = "",
    offset: Offset = 0,
) -> HTMLResponse:
    """The ledger items of the user's area, the nearest deadline first, overdue ones flagged."""
    locale = i18n.negotiate(request)
    error = None
    views: list[service.ItemView] = []
    total = 0
    if status and status not in SHOWN_STATUSES:
        error = i18n.gettext(locale, N_("The filter was not understood:")) + " " + status
    else:
        total, views = service.list_items(
            session, principal, limit=PAGE_SIZE, offset=offset, status=status or None
        )
    today = service.city_today()
    context = {
        "rows": [item_row(v, locale, today) for v in views],
        "status": status,
        "status_options": [
            (s, i18n.gettext(locale, ITEM_STATUS_LABELS[s])) for s in SHOWN_STATUSES
        ],
        "pages": pager("/workbench/rectification", total, offset, {"status": status}),
        "error": error,
        **roles_of(principal),
    }
    return page(
        request,
        "workbench/rectification.html",
        context,
        principal,
        400 if error is not None else 200,
    )


def _moves(locale: str, principal: Principal, stored: str) -> list[tuple[str, str]]:
    """The statuses this user can choose from the item's stored one (officials verify)."""
    handler = roles_of(principal)["handler"]
    moves = []
    for target in ITEM_TRANSITIONS.get(stored, ()):
        if target == "verified" and not handler:
            continue
        label = MOVE_LABELS.get((stored, target)) or MOVE_LABELS[target]
        moves.append((target, i18n.gettext(locale, label)))
    return moves


def _item_context(
    request: Request, session: Session, principal: Principal, item_id: str
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    try:
        view = service.get_item(session, principal, item_id)
    except NotFound:
        raise review.not_found() from None
    i, finding = view.item, view.finding
    today = service.city_today()
    providers = ProviderNames(session, locale)
    return {
        "item": i,
        "row": item_row(view, locale, today),
        "provider": providers(i.provider_id),
        "source": finding.source if finding else None,
        "complaint_id": finding.complaint_id if finding else None,
        "inspection_ref": finding.inspection_ref if finding else None,
        "moves": _moves(locale, principal, i.status),
        "closed": i.status == "verified",
        "unfinished": i.status in UNFINISHED,
        "done_at": when(i.done_at),
        "verified_at": when(i.verified_at),
        "form": {"evidence_text": i.evidence_text or "", "evidence_file": i.evidence_file or ""},
        **roles_of(principal),
    }


DONE = {"updated"}


@router.get(
    "/{item_id}", response_class=HTMLResponse, dependencies=[Depends(page_guard(*LEDGER_WORKERS))]
)
def item_page(
    request: Request,
    session: SessionDep,
    principal: LedgerWorker,
    item_id: str,
    done: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """One ledger item: owner, measure, deadline, status and evidence, and the progress form."""
    context = _item_context(request, session, principal, item_id)
    context["done"] = done if done in DONE else ""
    return page(request, "workbench/rectification_item.html", context, principal)


def _changed(typed: str, stored: str | None) -> str | None:
    """What the form changes in one evidence field: None when it is as stored (the form shows
    the stored evidence, so sending it back unchanged is not a change)."""
    typed = typed.strip()
    return None if typed == (stored or "") else typed


@router.post(
    "/{item_id}/progress",
    dependencies=[Depends(page_guard(*LEDGER_WORKERS)), Depends(check_csrf)],
)
def report_progress(
    request: Request,
    session: SessionDep,
    principal: LedgerWorker,
    item_id: str,
    status: Annotated[str, Form(max_length=32)] = "",
    evidence_text: Annotated[str, Form(max_length=6000)] = "",
    evidence_file: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    """Report progress on the item: a new status, new evidence, or both; an official verifies
    a rectified item and so closes it."""
    locale = i18n.negotiate(request)
    try:
        current = service.get_item(session, principal, item_id).item
    except NotFound:
        raise review.not_found() from None
    try:
        body = RectificationUpdate.model_validate(
            {
                "status": status or None,
                "evidence_text": _changed(evidence_text, current.evidence_text),
                "evidence_file": _changed(evidence_file, current.evidence_file),
            }
        )
        service.update_item(
            session,
            principal,
            item_id,
            status=body.status,
            evidence_text=body.evidence_text,
            evidence_file=body.evidence_file,
        )
    except (ValidationError, CareMatchError) as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            raise review.not_found() from None
        why = invalid_message(locale, exc) if isinstance(exc, ValidationError) else exc.detail
        context = _item_context(request, session, principal, item_id)
        context["done"] = ""
        context["error"] = i18n.gettext(locale, N_("Nothing was changed:")) + " " + why
        context["form"] = {
            "status": status,
            "evidence_text": evidence_text,
            "evidence_file": evidence_file,
        }
        code = exc.status if isinstance(exc, CareMatchError) else 400
        return page(request, "workbench/rectification_item.html", context, principal, code)
    return review.committed_redirect(session, f"/workbench/rectification/{item_id}?done=updated")


# --- providers flagged for qualification review ----------------------------------------------


@flags_router.get("", response_class=HTMLResponse, dependencies=[Depends(page_guard(*HANDLERS))])
def flags_page(
    request: Request, session: SessionDep, principal: Handler, offset: Offset = 0
) -> HTMLResponse:
    """Providers of the official's area whose ratings stayed low, with the periods that
    flagged them and the rule that judged them."""
    locale = i18n.negotiate(request)
    total, flags = service.list_flags(session, principal, limit=PAGE_SIZE, offset=offset)
    providers = ProviderNames(session, locale)
    rows = [
        {
            "id": f.id,
            "provider_id": f.provider_id,
            "provider": providers(f.provider_id),
            "first_period": f.first_period,
            "last_period": f.last_period,
            "periods": f.periods,
            "evidence": service.flag_evidence(f),
            "threshold": f.threshold,
            "min_ratings": f.min_ratings,
            "required_periods": f.required_periods,
            "period_months": f.period_months,
            "status": f.status,
            "updated": when(f.updated_at),
        }
        for f in flags
    ]
    context = {
        "rows": rows,
        "pages": pager("/workbench/provider-flags", total, offset, {}),
        **roles_of(principal),
    }
    return page(request, "workbench/flags.html", context, principal)
