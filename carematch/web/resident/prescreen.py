"""The resident's pre-screening questionnaire (接种前预检): before the appointment, a resident
(or a parent, for a registered dependant) answers the table's questions and sees the outcome
and its reasons in plain Chinese (or English). The form is a plain CSRF-protected POST.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse

from carematch.api.deps import SessionDep
from carematch.booking.service import bookable_person
from carematch.core.errors import CareMatchError, InvalidInput
from carematch.security.authz import Principal, require
from carematch.vaccination import prescreen_service
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for

Resident = Annotated[Principal, Depends(require("resident"))]
IdParam = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
SeriesParam = Annotated[str, Query(min_length=1, max_length=16)]
OUTCOME_LABELS = {
    "pass": N_("You can be vaccinated as planned."),
    "defer": N_("Please wait: vaccination is deferred."),
    "contraindicated": N_("This vaccine is not suitable for now."),
    "needs_review": N_("A vaccinator will review your answers before the appointment."),
}

router = APIRouter(include_in_schema=False, dependencies=[Depends(page_guard("resident"))])
PATH = "/portal/vaccination/prescreen"


def _context(request: Request, person_id: str, series: str) -> dict[str, object]:
    return {
        "person_id": person_id,
        "series": series,
        "questions": prescreen_service.table().questions,
        "csrf_token": token_for(request),
        "outcomes": OUTCOME_LABELS,
    }


@router.get(PATH, response_class=HTMLResponse)
def questionnaire(
    request: Request,
    session: SessionDep,
    principal: Resident,
    person_id: IdParam,
    series: SeriesParam,
) -> HTMLResponse:
    """The questions, each yes or no; a person the resident may not act for, or a vaccine the
    schedule does not know, is refused before anything is asked."""
    context = _context(request, person_id, series)
    try:
        bookable_person(session, principal, person_id)
        if prescreen_service.table().schedule.position(series) is None:
            raise InvalidInput(f"unknown vaccine series {series!r}")
    except CareMatchError as exc:
        context["error"] = exc.detail
        context["refused"] = True
        return render(
            request, "resident/prescreen.html", context, principal=principal, status_code=exc.status
        )
    return render(request, "resident/prescreen.html", context, principal=principal)


@router.post(PATH, response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
def submit(
    request: Request,
    session: SessionDep,
    principal: Resident,
    person_id: IdParam,
    series: SeriesParam,
    yes: Annotated[list[str], Form(max_length=64)] = [],  # noqa: B006 (FastAPI copies it)
) -> HTMLResponse:
    """Screen and show the outcome with its reasons; a refused request shows why.

    The form ticks the questions answered yes; every other question is answered no.
    """
    rules = prescreen_service.table()
    answers: dict[str, bool | None] = {k: False for k in rules.question_keys}
    answers.update({k: True for k in yes})
    context = _context(request, person_id, series)
    try:
        context["result"] = prescreen_service.screen_person(
            session, principal, person_id=person_id, series=series, answers=answers
        )
    except CareMatchError as exc:
        session.rollback()
        context["error"] = exc.detail
        return render(
            request, "resident/prescreen.html", context, principal=principal, status_code=exc.status
        )
    return render(request, "resident/prescreen.html", context, principal=principal)
