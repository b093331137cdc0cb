"""The workbench: a paginated, jurisdiction-scoped list of persons with masked identifiers."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core.models import Region
from carematch.core.regions import districts
from carematch.identity.repository import list_persons
from carematch.identity.schemas import PersonSummary
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.templating import render

STAFF = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs")
Staff = Annotated[Principal, Depends(require(*STAFF))]
PAGE_SIZE = 20
Offset = Annotated[int, Query(ge=0)]

router = APIRouter(
    prefix="/workbench",
    dependencies=[Depends(page_guard(*STAFF))],
    include_in_schema=False,
)


def _scope(principal: Principal, region: str | None) -> tuple[str | None, bool]:
    """The region to list and whether a requested narrowing was refused.

    A worker may narrow the list to a region inside their jurisdiction, never widen it: a
    region outside it falls back to the whole jurisdiction (and the page says so).
    """
    if not region:
        return principal.jurisdiction, False
    if region.isdigit() and principal.can_see(region):
        return region, False
    return principal.jurisdiction, True


def _persons_context(
    request: Request, session: Session, principal: Principal, offset: int, region: str | None
) -> dict[str, Any]:
    scope, refused = _scope(principal, region)
    total, people = list_persons(session, scope, PAGE_SIZE, offset)
    audit.record(
        session,
        actor=principal.username,
        action="list_persons",
        entity="person",
        entity_id="*",
        detail={"count": len(people), "offset": offset, "region": scope, "via": "web"},
    )
    locale = i18n.negotiate(request)
    names: dict[str, str] = {}
    for person in people:
        code = person.community_code
        if code and code not in names:
            found = session.get(Region, code)
            if found is not None:
                names[code] = i18n.localized_name(found.name, found.name_en, locale)
    kept = region if region and not refused else None

    def query(at: int) -> str:
        return urlencode({"offset": at, **({"region": kept} if kept else {})})

    return {
        "persons": [PersonSummary.of(p) for p in people],
        "community_names": names,
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "prev_query": query(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next_query": query(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        "page_url": "/workbench?" + query(offset),
        "region": kept,
        "region_refused": refused,
    }


@router.get("", response_class=HTMLResponse)
def workbench(
    request: Request,
    session: SessionDep,
    principal: Staff,
    offset: Offset = 0,
    region: str | None = None,
) -> HTMLResponse:
    """The workbench page: a region filter and the first page of persons."""
    locale = i18n.negotiate(request)
    options = [
        (d.code, i18n.localized_name(d.name, d.name_en, locale))
        for d in districts(session)
        if principal.can_see(d.code)
    ]
    context = _persons_context(request, session, principal, offset, region)
    context["region_options"] = options
    return render(request, "workbench/index.html", context, principal=principal)


@router.get("/persons", response_class=HTMLResponse)
def persons_fragment(
    request: Request,
    session: SessionDep,
    principal: Staff,
    offset: Offset = 0,
    region: str | None = None,
) -> HTMLResponse:
    """One page of the person list as an HTML fragment (swapped in by HTMX)."""
    context = _persons_context(request, session, principal, offset, region)
    response = render(request, "workbench/_persons.html", context, principal=principal)
    # The address bar shows the full page that holds this fragment, so reload, bookmarks
    # and the back button land on a whole page rather than a bare table.
    response.headers["HX-Push-Url"] = context["page_url"]
    return response
