"""The needs questionnaire (需求问卷) of the resident portal: a resident says what help they
need; it lands in their record and, at the next profiling run, in their demand tags.

A resident answers for themselves only (their own linked person). A plain POST form with the
session's CSRF token and an idempotency key made when the page was rendered (a re-sent post
counts once), answered by a redirect. The form starts from the resident's last answers.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from carematch.api.deps import SessionDep
from carematch.assessments import service
from carematch.assessments.needs import need_catalogue
from carematch.core.errors import CareMatchError
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

Resident = Annotated[Principal, Depends(require("resident"))]
router = APIRouter(
    prefix="/portal/questionnaire",
    dependencies=[Depends(page_guard("resident"))],
    include_in_schema=False,
)


def _page(
    request: Request,
    principal: Principal,
    chosen: list[str],
    other: str,
    *,
    saved: bool = False,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    locale = i18n.negotiate(request)
    context = {
        "linked": principal.person_id is not None,
        "needs": [(n.code, n.label(locale)) for n in need_catalogue().values()],
        "chosen": chosen,
        "other": other,
        "saved": saved,
        "error": error,
        "csrf_token": token_for(request),
        "key": secrets.token_urlsafe(16),
    }
    response = render(
        request,
        "resident/questionnaire.html",
        context,
        principal=principal,
        status_code=status_code,
    )
    response.headers.update(review.NO_STORE)
    return response


@router.get("", response_class=HTMLResponse)
def questionnaire(
    request: Request,
    session: SessionDep,
    principal: Resident,
    saved: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    """The questionnaire, ticked with the resident's last answers."""
    last = service.latest_questionnaire(session, principal)
    chosen = last.needs.split() if last else []
    return _page(request, principal, chosen, (last.other or "") if last else "", saved=bool(saved))


@router.post("", dependencies=[Depends(check_csrf)])
async def submit(
    request: Request,
    session: SessionDep,
    principal: Resident,
    key: Annotated[str, Form(max_length=48)] = "",
    other: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Keep the answers and come back to the page, which says they were saved."""
    form = await request.form()
    needs = [str(v) for v in form.getlist("needs")][:50]
    try:
        service.submit_questionnaire(
            session,
            principal,
            person_id=None,
            needs=needs,
            other=other,
            idempotency_key=f"portal:{key}" if key else None,
        )
    except CareMatchError as exc:
        session.rollback()
        locale = i18n.negotiate(request)
        error = i18n.gettext(locale, N_("The answers were not saved:")) + " " + exc.detail
        status = exc.status if exc.status in (404, 422) else 400
        return _page(request, principal, needs, other, error=error, status_code=status)
    return review.committed_redirect(session, "/portal/questionnaire?saved=1")
