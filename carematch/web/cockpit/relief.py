"""The relief page of the cockpit (防返贫监测): households at risk by township, the cases with
their steps and amounts, and the relief fund.

Civil-affairs staff work the cases here as well as officials, so the router has its own guard
for ("official", "civil_affairs") rather than the cockpit's officials-only one. Each step is a
plain POST form with this session's CSRF token, answered by a redirect (a reload never repeats
a step); a step out of order or a payment the fund cannot cover comes back as a message on the
page. The work is :mod:`carematch.relief.service`'s, as for the API.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from carematch.api.deps import SessionDep
from carematch.core.clock import CITY_TZ
from carematch.core.errors import CareMatchError
from carematch.relief import service
from carematch.relief.errors import (
    FundBalanceShort,
    InvalidReliefInput,
    ReliefCaseNotFound,
    ReliefCaseStateConflict,
)
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.records import region_namer

RELIEF_WORKERS = ("official", "civil_affairs")
Worker = Annotated[Principal, Depends(require(*RELIEF_WORKERS))]
NO_STORE = {"Cache-Control": "no-store"}

STATUS_LABELS = {
    "triggered": N_("Triggered"),
    "verified": N_("Verified"),
    "approved": N_("Approved"),
    "paid": N_("Paid"),
    "rejected": N_("Rejected"),
}
CAUSE_LABELS = {
    "major_illness": N_("Major illness"),
    "chronic_disease": N_("Chronic disease"),
    "loss_of_working_capacity": N_("Loss of working capacity"),
}
HOUSEHOLD_LABELS = {
    "extreme_hardship": N_("Extreme hardship"),
    "min_allowance": N_("Minimum allowance"),
    "lifted": N_("Lifted out of poverty"),
    "monitored": N_("Monitored"),
    "marginal": N_("Marginal"),
    "general": N_("General"),
}
ACTION_LABELS = {
    "verify": N_("Verify"),
    "approve": N_("Approve"),
    "pay": N_("Pay"),
    "reject": N_("Reject"),
}
# What each status allows next (the service checks it again).
NEXT_ACTIONS = {
    "triggered": ("verify", "reject"),
    "verified": ("approve", "reject"),
    "approved": ("pay", "reject"),
}
MESSAGES = {
    "done": N_("Done."),
    "short": N_("The relief fund's balance is too low for this payment. Deposit first."),
    "order": N_("This case has moved on meanwhile; the list shows where it is now."),
    "reason": N_("A rejection needs a reason."),
    "deposit": N_("Deposit recorded."),
    "amount": N_("Enter an amount in yuan above 0, to the fen."),
}

router = APIRouter(
    prefix="/cockpit/relief",
    dependencies=[Depends(page_guard(*RELIEF_WORKERS))],
    include_in_schema=False,
)


def _yuan(value: Decimal | float) -> str:
    return f"{Decimal(str(value)):,.2f}"


def _local(at: Any) -> str:
    return service.as_utc(at).astimezone(CITY_TZ).strftime("%Y-%m-%d %H:%M") if at else ""


@router.get("", response_class=HTMLResponse)
def relief_page(
    request: Request,
    session: SessionDep,
    principal: Worker,
    message: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """Townships, cases and the fund for the caller's jurisdiction."""
    locale = i18n.negotiate(request)

    def t(text: str) -> str:
        return i18n.gettext(locale, text)

    name = region_namer(session, locale)
    towns = service.risk_by_township(session, principal)
    _, views = service.list_cases(session, principal, limit=200)
    fund = service.fund(session, limit=10)
    cases = []
    for view in views:
        c = view.case
        cases.append(
            {
                "id": c.id,
                "household": c.household_id,
                "area": name(c.region_code) if c.region_code else "—",
                "status": c.status,
                "status_label": t(STATUS_LABELS[c.status]),
                "household_status": t(HOUSEHOLD_LABELS.get(c.household_status, "General")),
                "cause": t(CAUSE_LABELS.get(c.cause, c.cause)),
                "triggers": c.triggers.replace(",", ", "),
                "oop": _yuan(view.oop_12m),
                "amount": _yuan(view.amount),
                "after": _yuan(view.out_of_pocket_after),
                "tier": c.tier or "—",
                "overdue": view.overdue,
                "due": _local(c.verify_due_at),
                "steps": [
                    {
                        "label": t(STATUS_LABELS[e.to_status]),
                        "actor": e.actor,
                        "at": _local(e.at),
                        "note": e.note,
                    }
                    for e in view.events
                ],
                "stacking": view.as_dict()["steps"],
                "actions": [(a, t(ACTION_LABELS[a])) for a in NEXT_ACTIONS.get(c.status, ())],
            }
        )
    context = {
        "towns": [
            {
                "code": r.township,
                "name": name(r.township) if r.township != "-" else "—",
                "watched": r.watched,
                "at_risk": r.at_risk,
                "anti_return": r.anti_return,
                "temporary_relief": r.temporary_relief,
            }
            for r in towns
        ],
        "at_risk_total": sum(r.at_risk for r in towns),
        "watched_total": sum(r.watched for r in towns),
        "cases": cases,
        "balance": _yuan(fund.balance),
        "balance_raw": str(fund.balance),
        "entries": [
            {
                "kind": t(N_("Deposit")) if e.kind == "deposit" else t(N_("Payment")),
                "amount": _yuan(service.from_fen(e.amount_fen)),
                "balance": _yuan(service.from_fen(e.balance_fen)),
                "actor": e.actor,
                "at": _local(e.at),
                "note": e.note or "",
            }
            for e in fund.entries
        ],
        "message": t(MESSAGES[message]) if message in MESSAGES else None,
        "message_kind": message,
        "csrf_token": token_for(request),
    }
    response = render(request, "cockpit/relief.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


def _back(message: str, anchor: str = "") -> RedirectResponse:
    return RedirectResponse(f"/cockpit/relief?{urlencode({'message': message})}{anchor}", 303)


@router.post("/cases/{case_id}/{action}", dependencies=[Depends(check_csrf)])
def take_step(
    session: SessionDep,
    principal: Worker,
    case_id: str,
    action: str,
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Verify, approve, pay or reject a case; back to the page with what happened."""
    if action not in NEXT_ACTIONS["triggered"] + NEXT_ACTIONS["approved"] + ("approve",):
        return _back("order")
    try:
        service.take_step(session, principal, case_id, action, note)
    except CareMatchError as exc:
        session.rollback()
        if isinstance(exc, ReliefCaseNotFound):
            raise HTTPException(status_code=404) from None
        if isinstance(exc, FundBalanceShort):
            return _back("short", f"#case-{case_id}")
        if isinstance(exc, InvalidReliefInput):
            return _back("reason", f"#case-{case_id}")
        if isinstance(exc, ReliefCaseStateConflict):
            return _back("order", f"#case-{case_id}")
        raise
    session.commit()
    return _back("done", f"#case-{case_id}")


@router.post("/fund/deposit", dependencies=[Depends(check_csrf)])
def deposit(
    session: SessionDep,
    principal: Worker,
    amount: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Put money into the relief fund."""
    try:
        service.deposit(session, principal.username, amount.replace(",", "").strip(), note or None)
    except InvalidReliefInput:
        session.rollback()
        return _back("amount", "#fund")
    session.commit()
    return _back("deposit", "#fund")
