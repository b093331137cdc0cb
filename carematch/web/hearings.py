"""The public hearing pages (政策听证, R-PL-4): the draft, the consultation, the result.

``/hearings`` lists every hearing and ``/hearings/{id}`` shows one to anyone, signed in or
not: the draft policy in plain words, the consultation period and, once closed, the result —
how many opinions were adopted and not, each opinion without its author (numbers that could
identify someone masked) with its decision and reason. A signed-in resident of the consulted
area gives their one opinion here (a form with this session's CSRF token).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from carematch.api.deps import SessionDep
from carematch.core.clock import city_today
from carematch.core.errors import CareMatchError
from carematch.policy import hearings
from carematch.policy.hearings import MAX_OPINION
from carematch.policy.library import Benefit
from carematch.providers.catalogue import service_catalogue
from carematch.security.authz import Principal, optional_principal, public, require
from carematch.web import i18n
from carematch.web.cockpit.governance import CHANNEL_LABELS, DECISION_LABELS, message
from carematch.web.guards import page_guard
from carematch.web.resident.policies import benefit_text
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.records import region_namer

router = APIRouter(include_in_schema=False)
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
Resident = Annotated[Principal, Depends(require("resident"))]


@router.get("/hearings", response_class=HTMLResponse, dependencies=[Depends(public())])
def hearings_list(request: Request, session: SessionDep, principal: MaybePrincipal) -> HTMLResponse:
    """Every hearing, newest first, open ones with their closing day."""
    rows = [
        {"hearing": h, "counts": hearings.result_counts(session, h.id)}
        for h in hearings.list_hearings(session)
    ]
    return render(request, "hearings/list.html", {"rows": rows}, principal=principal)


def _page(
    request: Request,
    session: SessionDep,
    principal: Principal | None,
    hearing_id: str,
    *,
    error: str | None = None,
    text: str = "",
    given: bool = False,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        result = hearings.public_result(session, hearing_id)
    except CareMatchError:
        raise HTTPException(status_code=404) from None
    locale = i18n.negotiate(request)
    hearing = result.hearing
    catalogue = service_catalogue()
    services = [
        (catalogue[c].name_en if locale == "en" else catalogue[c].name) if c in catalogue else c
        for c in result.draft.get("services", [])
    ]
    accepting = hearing.status == "open" and hearing.opens_on <= city_today() <= hearing.closes_on
    mine = None
    if principal is not None and principal.role == "resident" and principal.person_id:
        mine = hearings.own_opinion(session, hearing.id, principal.person_id)
    context = {
        "hearing": hearing,
        "draft": result.draft,
        "services": services,
        "benefit": benefit_text(Benefit(**result.draft["benefit"]), locale),
        "counts": result.counts,
        "opinions": result.opinions,
        "channels": {k: i18n.gettext(locale, v) for k, v in CHANNEL_LABELS.items()},
        "decisions": {k: i18n.gettext(locale, v) for k, v in DECISION_LABELS.items()},
        "area": region_namer(session, locale)(hearing.region_code) if hearing.region_code else "",
        "accepting": accepting,
        "can_give": accepting and principal is not None and principal.role == "resident",
        "mine": mine,
        "given": given,
        "error": error,
        "text": text,
        "max_opinion": MAX_OPINION,
        "csrf_token": token_for(request),
    }
    return render(
        request, "hearings/hearing.html", context, principal=principal, status_code=status_code
    )


@router.get("/hearings/{hearing_id}", response_class=HTMLResponse, dependencies=[Depends(public())])
def hearing_page(
    request: Request,
    session: SessionDep,
    principal: MaybePrincipal,
    hearing_id: str,
    given: bool = False,
) -> HTMLResponse:
    """A hearing for everyone: the draft, the period and, once closed, the published result."""
    return _page(request, session, principal, hearing_id, given=given)


@router.post(
    "/hearings/{hearing_id}/opinion",
    dependencies=[Depends(page_guard("resident")), Depends(check_csrf)],
)
def give_opinion(
    request: Request,
    session: SessionDep,
    principal: Resident,
    hearing_id: str,
    text: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """A resident's opinion; a refusal (empty, too long, already given) is shown on the page."""
    try:
        hearings.submit_opinion(session, principal, hearing_id, text)
    except CareMatchError as exc:
        session.rollback()
        if exc.status == 404:
            raise HTTPException(status_code=404) from None
        return _page(
            request,
            session,
            principal,
            hearing_id,
            error=message(i18n.negotiate(request), exc),
            text=text[: MAX_OPINION * 2],
            status_code=exc.status,
        )
    session.commit()
    return RedirectResponse(f"/hearings/{hearing_id}?given=1", status_code=303)
