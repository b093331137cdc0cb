"""The vaccinator's review queue (预检复核): high-risk pre-screenings waiting for a decision.

A list with the automatic outcome and its reasons, and a decision form per screening (approve,
defer, contraindicate) with a mandatory note. Plain CSRF-protected POSTs answered with a
redirect once committed; persons are masked as in every workbench list, and the list is
audited (prescreen_service.list_screenings).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from carematch.api.deps import SessionDep
from carematch.core.errors import CareMatchError
from carematch.identity.errors import PersonNotFound
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.security.authz import Principal, require
from carematch.vaccination import prescreen_service
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for

Reviewer = Annotated[Principal, Depends(require(*prescreen_service.REVIEWERS))]
PAGE = "/workbench/vaccination/review"
MAX_ROWS = 100
DECISION_LABELS = {
    "approve": N_("Approve: vaccinate"),
    "defer": N_("Defer"),
    "contraindicate": N_("Contraindicated"),
}
OUTCOME_LABELS = {
    "pass": N_("Pass"),
    "defer": N_("Defer"),
    "contraindicated": N_("Contraindicated"),
    "needs_review": N_("Needs review"),
}

router = APIRouter(
    prefix=PAGE,
    include_in_schema=False,
    dependencies=[Depends(page_guard(*prescreen_service.REVIEWERS))],
)


@router.get("", response_class=HTMLResponse)
def review_page(
    request: Request, session: SessionDep, principal: Reviewer, error: str | None = None
) -> HTMLResponse:
    """The queue of the vaccinator's jurisdiction, oldest first."""
    views, total = prescreen_service.list_screenings(
        session, principal, status="needs_review", limit=MAX_ROWS
    )
    rows = []
    for v in reversed(views):
        try:
            person: PersonSummary | None = PersonSummary.of(
                visible_person(session, principal, v.row.person_id)
            )
        except PersonNotFound:
            person = None
        rows.append({"view": v, "person": person})
    context = {
        "rows": rows,
        "total": total,
        "decisions": DECISION_LABELS,
        "outcome_labels": OUTCOME_LABELS,
        "csrf_token": token_for(request),
        "error": error,
    }
    return render(request, "workbench/vaccination_review.html", context, principal=principal)


@router.post("/{screening_id}", dependencies=[Depends(check_csrf)])
def decide(
    request: Request,
    session: SessionDep,
    principal: Reviewer,
    screening_id: str,
    decision: Annotated[str, Form()] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Record a decision; a refused one comes back to the list with the reason."""
    try:
        prescreen_service.decide(session, principal, screening_id, decision=decision, note=note)
    except CareMatchError as exc:
        session.rollback()
        return review_page(request, session, principal, error=exc.detail)
    return RedirectResponse(PAGE, status_code=303)
