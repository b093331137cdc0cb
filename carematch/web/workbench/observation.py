"""The observation list (留观): people dosed in the last half hour, with the time each must still
wait, and a "released" button.

The page works without script: the remaining minutes are printed when it is rendered and a
meta refresh reloads it every 30 seconds. ``/static/js/observation.js`` (allowed by the page's
script-src 'self' policy) counts the seconds down between reloads. Persons are shown masked as
in every workbench list, and the list is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from carematch.api.deps import SessionDep
from carematch.coldchain.repository import aware
from carematch.core.clock import utcnow
from carematch.identity.errors import PersonNotFound
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.vaccination import administration
from carematch.vaccination.administration import AdministrationNotFound
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

WATCHERS = ("vaccinator", "doctor")
Watcher = Annotated[Principal, Depends(require(*WATCHERS))]
PATH = "/workbench/vaccination/observation"
SITE_LABELS = {
    "left_deltoid": N_("Left upper arm"),
    "right_deltoid": N_("Right upper arm"),
    "left_thigh": N_("Left thigh"),
    "right_thigh": N_("Right thigh"),
    "left_buttock": N_("Left buttock"),
    "right_buttock": N_("Right buttock"),
    "oral": N_("Oral"),
    "intranasal": N_("Nose"),
    "intradermal_left_arm": N_("Left arm, intradermal"),
    "intradermal_right_arm": N_("Right arm, intradermal"),
}

router = APIRouter(prefix="/workbench/vaccination", include_in_schema=False)


def remaining_seconds(until: datetime, now: datetime) -> int:
    """Whole seconds left until ``until`` (0 once it has passed)."""
    return max(0, int((aware(until) - now).total_seconds()))


@router.get(
    "/observation", response_class=HTMLResponse, dependencies=[Depends(page_guard(*WATCHERS))]
)
def observation_page(
    request: Request, session: SessionDep, principal: Watcher, released: str | None = None
) -> HTMLResponse:
    """Everyone under observation in the caller's area, soonest to leave first."""
    locale = i18n.negotiate(request)
    now = utcnow()
    rows = administration.under_observation(session, principal, now)
    people = []
    for row in rows:
        try:
            person: PersonSummary | None = PersonSummary.of(
                visible_person(session, principal, row.person_id)
            )
        except PersonNotFound:
            person = None
        left = remaining_seconds(row.observe_until, now)
        people.append(
            {
                "id": row.id,
                "person": person,
                "series": row.series,
                "dose": row.dose_number,
                "site": i18n.gettext(locale, SITE_LABELS.get(row.site, row.site)),
                "until": aware(row.observe_until).isoformat(),
                "left": left,
                "left_text": f"{left // 60}:{left % 60:02d}",
            }
        )
    audit.record(
        session,
        actor=principal.username,
        action="list_observation",
        entity="person",
        entity_id="*",
        detail={"persons": len(people), "via": "web"},
    )
    context = {
        "people": people,
        "csrf_token": token_for(request),
        "released": released is not None,
    }
    response = render(request, "workbench/observation.html", context, principal=principal)
    response.headers.update(review.NO_STORE)
    return response


@router.post(
    "/observation/{administration_id}/release",
    dependencies=[Depends(page_guard(*WATCHERS)), Depends(check_csrf)],
)
def release(
    request: Request, session: SessionDep, principal: Watcher, administration_id: str
) -> Response:
    """Release the person (they may go home); back to the list."""
    try:
        administration.release(session, principal, administration_id)
    except AdministrationNotFound:
        raise review.not_found() from None
    return review.committed_redirect(session, PATH + "?released=1")
