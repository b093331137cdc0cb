"""Cohort allocation in the cockpit (批量对接): pick a cohort, run the exact allocation, confirm.

An official chooses a service, optionally a demand tag and a district, and the farthest a
resident should travel; the run's page shows the coverage (placed / cohort), the total and mean
distance and every proposal (names masked), with one "confirm all" button. Forms are plain
POSTs (with this session's CSRF token) answered by a redirect, so they work without JavaScript
and a reload never repeats a run or a decision. The work itself is
:mod:`carematch.matching.cohort`'s, as for the API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from carematch.api.deps import SessionDep
from carematch.core.errors import CareMatchError, NotFound
from carematch.core.regions import districts
from carematch.identity.schemas import mask_name
from carematch.identity.service import visible_person
from carematch.matching import cohort
from carematch.matching.errors import AllocationInputRejected
from carematch.matching.models import AllocationRun
from carematch.matching.schemas import (
    DEFAULT_DAYS,
    MAX_DAYS,
    MAX_KM_LIMIT,
    WAIT_WEIGHT_LIMIT,
    RunSummary,
    summary_of,
)
from carematch.profiling.tags import default_library
from carematch.providers.catalogue import service_catalogue
from carematch.providers.errors import UnknownService
from carematch.providers.service import registry
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.records import region_namer

ALLOCATORS = ("official",)
Allocator = Annotated[Principal, Depends(require(*ALLOCATORS))]
PAGE_SIZE = 50
RECENT_RUNS = 10
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
# Pages naming residents (even masked) must not linger in shared caches.
NO_STORE = {"Cache-Control": "no-store"}
DEFAULT_FORM = {"service": "vaccination_child", "tag": "", "region": "", "max_km": "10"}

STATUS_LABELS = {
    "proposed": N_("Proposed"),
    "unassigned": N_("No provider"),
    "confirmed": N_("Confirmed"),
    "rejected": N_("Rejected"),
}
REASON_LABELS = {
    cohort.NO_LOCATION: N_("Community location unknown"),
    cohort.NONE_IN_REACH: N_("No provider within reach"),
    cohort.CAPACITY_TAKEN: N_("Providers within reach are full"),
}
# What the form says when the cohort or the numbers cannot be used (each error class once).
ERROR_MESSAGES = {
    UnknownService: N_("Choose a service from the list."),
    cohort.CohortRejected: N_("That demand tag does not call for this service."),
    cohort.RegionNotFound: N_("That district is not in your area."),
    AllocationInputRejected: N_(
        "Enter a distance above 0 and up to 200 km, a wait weight from 0 to 100 and 1 to 90 days."
    ),
}

router = APIRouter(
    prefix="/cockpit/allocation",
    dependencies=[Depends(page_guard(*ALLOCATORS))],
    include_in_schema=False,
)


def not_found() -> HTTPException:
    """A 404 the page handler shows as the "page not found" page (also for other districts)."""
    return HTTPException(status_code=404)


def _service_options(locale: str) -> list[tuple[str, str]]:
    """The services some demand tag calls for (only those can have a cohort), by name."""
    library = default_library()
    wanted = {code for tag in library.tags.values() for code in tag.services}
    return [
        (code, info.name_en if locale == "en" else info.name)
        for code, info in service_catalogue().items()
        if code in wanted
    ]


def _tag_groups(locale: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The demand tags grouped under each service they call for (a tag may be in several).

    Grouping stands in for a script that would narrow the list to the chosen service: the
    page's content policy allows no inline script, and the server checks the pair anyway.
    """
    library = default_library()
    groups = []
    for code, label in _service_options(locale):
        tags = sorted(
            (tag.id, tag.label_en if locale == "en" else tag.label_zh)
            for tag in library.tags.values()
            if code in tag.services
        )
        groups.append((code, label, tags))
    return groups


def _service_name(code: str, locale: str) -> str:
    info = service_catalogue().get(code)
    if info is None:
        return code
    return info.name_en if locale == "en" else info.name


@dataclass(frozen=True)
class RunRow:
    """A run as the recent-runs table shows it."""

    id: str
    created_at: str
    created_by: str
    service: str
    area: str
    status: str
    summary: RunSummary


def _run_row(session: Session, run: AllocationRun, locale: str, region_name: Any) -> RunRow:
    return RunRow(
        id=run.id,
        created_at=run.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        created_by=run.created_by,
        service=_service_name(run.service, locale),
        area=region_name(run.region_code) if run.region_code else "",
        status=run.status,
        summary=summary_of(run, cohort.status_counts(session, run)),
    )


def _form_context(
    request: Request,
    session: Session,
    principal: Principal,
    values: dict[str, str],
    error: str | None = None,
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    region_name = region_namer(session, locale)
    _, runs = cohort.list_runs(session, principal, limit=RECENT_RUNS)
    return {
        "view": "form",
        "services": _service_options(locale),
        "tag_groups": _tag_groups(locale),
        "districts": [
            (d.code, i18n.localized_name(d.name, d.name_en, locale))
            for d in districts(session)
            if principal.can_see(d.code)
        ],
        "values": values,
        "error": i18n.gettext(locale, error) if error else None,
        "runs": [_run_row(session, r, locale, region_name) for r in runs],
        "status_labels": {k: i18n.gettext(locale, v) for k, v in STATUS_LABELS.items()},
        "limits": {"max_km": MAX_KM_LIMIT, "wait_weight": WAIT_WEIGHT_LIMIT, "days": MAX_DAYS},
        "csrf_token": token_for(request),
    }


@router.get("", response_class=HTMLResponse)
def allocation_form(request: Request, session: SessionDep, principal: Allocator) -> HTMLResponse:
    """The cohort form and the runs already made in the official's area."""
    values = {**DEFAULT_FORM, "wait_weight": "0.5", "days": str(DEFAULT_DAYS)}
    context = _form_context(request, session, principal, values)
    return render(request, "cockpit/allocation.html", context, principal=principal)


def _number(text: str, kind: type[float] | type[int]) -> float | int:
    try:
        return kind(text.strip())
    except ValueError:
        raise AllocationInputRejected(f"{text!r} is not a number") from None


@router.post("", dependencies=[Depends(check_csrf)])
def run_allocation(
    request: Request,
    session: SessionDep,
    principal: Allocator,
    service: Annotated[str, Form(max_length=64)] = "",
    tag: Annotated[str, Form(max_length=64)] = "",
    region: Annotated[str, Form(max_length=12)] = "",
    max_km: Annotated[str, Form(max_length=32)] = "",
    wait_weight: Annotated[str, Form(max_length=32)] = "",
    days: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Run the allocation and show its page; a cohort that cannot be drawn re-shows the form."""
    values = {
        "service": service,
        "tag": tag,
        "region": region,
        "max_km": max_km,
        "wait_weight": wait_weight,
        "days": days,
    }
    try:
        run = cohort.propose_allocation(
            session,
            principal,
            cohort.CohortFilter(service, (tag,) if tag else (), region or None),
            max_km=float(_number(max_km, float)),
            wait_weight=float(_number(wait_weight, float)),
            days=int(_number(days, int)),
        )
    except CareMatchError as exc:
        session.rollback()
        message = next(
            (text for kind, text in ERROR_MESSAGES.items() if isinstance(exc, kind)), None
        )
        if message is None:
            raise
        context = _form_context(request, session, principal, values, message)
        status = 404 if isinstance(exc, NotFound) else 400
        return render(
            request, "cockpit/allocation.html", context, principal=principal, status_code=status
        )
    # Commit before redirecting: the browser reads the run page at once (see review.py).
    session.commit()
    return RedirectResponse(f"/cockpit/allocation/{run.id}", status_code=303)


@router.get("/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    session: SessionDep,
    principal: Allocator,
    run_id: str,
    offset: Offset = 0,
    confirmed: int | None = None,
) -> HTMLResponse:
    """A run's coverage and distances, and one page of its proposals (names masked)."""
    try:
        run = cohort.get_run(session, principal, run_id)
    except NotFound:
        raise not_found() from None
    locale = i18n.negotiate(request)
    region_name = region_namer(session, locale)
    total, proposals = cohort.list_proposals(
        session, principal, run.id, limit=PAGE_SIZE, offset=offset
    )
    providers = registry(session).providers
    rows = []
    for p in proposals:
        try:
            name = mask_name(visible_person(session, principal, p.person_id).name)
        except NotFound:  # merged away since the run, or moved out of the area
            name = None
        card = providers.get(p.provider_id) if p.provider_id else None
        rows.append(
            {
                "id": p.id,
                "seq": p.seq + 1,
                "name": name,
                "community": region_name(p.community_code) if p.community_code else "",
                "provider": (card.name_en if locale == "en" else card.name) if card else "",
                "provider_id": p.provider_id or "",
                "distance_km": p.distance_km,
                "wait_days": p.wait_days,
                "status": p.status,
                "status_label": i18n.gettext(locale, STATUS_LABELS.get(p.status, p.status)),
                "reason": i18n.gettext(locale, REASON_LABELS[p.reason])
                if p.reason in REASON_LABELS
                else "",
            }
        )
    # Masked names are still a read of residents' records: one entry per page shown.
    audit.record(
        session,
        actor=principal.username,
        action="view_allocation",
        entity="allocation_run",
        entity_id=run.id,
        detail={"count": len(rows), "offset": offset, "via": "web"},
    )
    library = default_library()
    tags = [library.tags[t] for t in json.loads(run.tags) if t in library.tags]

    def query(at: int) -> str:
        return urlencode({"offset": at})

    context = {
        "view": "run",
        "run": run,
        "service_name": _service_name(run.service, locale),
        "tag_labels": [t.label_en if locale == "en" else t.label_zh for t in tags],
        "area": region_name(run.region_code) if run.region_code else "",
        "summary": summary_of(run, cohort.status_counts(session, run)),
        "proposals": rows,
        "total": total,
        "offset": offset,
        "prev_query": query(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next_query": query(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        "confirmed": confirmed,
        "status_labels": {k: i18n.gettext(locale, v) for k, v in STATUS_LABELS.items()},
        "csrf_token": token_for(request),
    }
    response = render(request, "cockpit/allocation.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


@router.post("/{run_id}/confirm", dependencies=[Depends(check_csrf)])
def confirm_all(session: SessionDep, principal: Allocator, run_id: str) -> Response:
    """Confirm every proposal still awaiting a decision; a second click changes nothing."""
    try:
        result = cohort.confirm(session, principal, run_id, None)
    except NotFound:
        raise not_found() from None
    session.commit()
    query = urlencode({"confirmed": len(result.changed)})
    return RedirectResponse(f"/cockpit/allocation/{result.run.id}?{query}", status_code=303)
