"""The workbench: a paginated, jurisdiction-scoped list of persons with masked identifiers,
each person's page with their source records, and (for reviewers) the review queue."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core.errors import Conflict, NotFound
from carematch.core.regions import districts
from carematch.identity import review_service, service
from carematch.identity.models import ReviewPair, SourceRecord
from carematch.identity.repository import list_persons
from carematch.identity.review_endpoints import REVIEWERS
from carematch.identity.schemas import PersonSummary
from carematch.matching.service import NoLocation, recommend_for_person
from carematch.profiling.service import person_profile
from carematch.profiling.tags import default_library
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.cockpit.data import district_overview, district_shapes
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import cases, complaints, monitoring, rectification, review, today
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.profile import tag_views
from carematch.web.workbench.records import SEX_LABELS, record_view, region_namer

STAFF = ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs")
Staff = Annotated[Principal, Depends(require(*STAFF))]
Reviewer = review.Reviewer
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
    region_name = region_namer(session, i18n.negotiate(request))
    names = {p.community_code: region_name(p.community_code) for p in people if p.community_code}
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


def can_review(principal: Principal) -> bool:
    """Whether the user may decide who is who (link, separate, undo)."""
    return principal.unrestricted or principal.role in REVIEWERS


def work_areas(principal: Principal) -> list[tuple[str, str, str]]:
    """The workbench's other pages this user may open: (id, address, label), in the order a
    day's work meets them. Each page checks its own roles; this list reads the same role sets,
    so no link leads to a refusal."""
    from carematch.consultation.endpoints import DOCTORS
    from carematch.feedback.endpoints import LEDGER_WORKERS
    from carematch.vaccination.prescreen_service import REVIEWERS as VACCINE_REVIEWERS
    from carematch.web.cockpit.relief import RELIEF_WORKERS
    from carematch.web.workbench.complaints import HANDLERS
    from carematch.web.workbench.observation import WATCHERS

    areas = [
        ("consultations-link", "/workbench/consultations", N_("Remote consultations"), DOCTORS),
        (
            "vaccination-review-link",
            "/workbench/vaccination/review",
            N_("Pre-screening review"),
            VACCINE_REVIEWERS,
        ),
        (
            "observation-link",
            "/workbench/vaccination/observation",
            N_("Observation after vaccination"),
            WATCHERS,
        ),
        ("complaints-link", "/workbench/complaints", N_("Complaints"), HANDLERS),
        (
            "rectification-link",
            "/workbench/rectification",
            N_("Rectification ledger"),
            LEDGER_WORKERS,
        ),
        ("cases-link", "/workbench/cases", N_("Case library"), cases.CASE_READERS),
        (
            "monitoring-link",
            "/workbench/monitoring",
            N_("Chronic monitoring"),
            monitoring.MONITORING_WORKERS,
        ),
        ("relief-link", "/cockpit/relief", N_("Relief watch"), RELIEF_WORKERS),
    ]
    # Every page admits admin as well as its roles (security.authz.require).
    return [
        (key, href, label)
        for key, href, label, roles in areas
        if principal.role in roles or principal.role == "admin"
    ]


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
    context["work_areas"] = work_areas(principal)
    if can_review(principal):
        context["open_pairs"], _ = review_service.list_pairs(session, principal, "open", 0, 0)
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


def _separation(
    session: Session, principal: Principal, person_id: str, pair_id: str | None
) -> dict[str, Any] | None:
    """What the notice after "separate" says: the record split off, its new person, the pair.

    Shown only while the split still stands, so a reload after "undo" shows no stale notice.
    """
    if not pair_id:
        return None
    pair = session.get(ReviewPair, pair_id)
    if pair is None or pair.status != "separated" or not principal.can_see(pair.community_code):
        return None
    change = json.loads(pair.change or "{}")
    if change.get("action") != "split" or change.get("from") != person_id:
        return None
    moved = session.get(SourceRecord, change["moved"][0])
    return {
        "pair_id": pair.id,
        "to": change["to"],
        "record_id": moved.record_id if moved else "",
        "record_pk": moved.id if moved else "",
    }


@router.get("/persons/{person_id}", response_class=HTMLResponse)
def person_page(
    request: Request,
    session: SessionDep,
    principal: Staff,
    person_id: str,
    separated: str | None = None,
    undone: bool = False,
) -> HTMLResponse:
    """A person's golden record and every source record linked to it (the read is audited)."""
    try:
        person, records = service.read_person(session, principal, person_id)
    except NotFound:
        raise review.not_found() from None
    locale = i18n.negotiate(request)
    region_name = region_namer(session, locale)
    sex = SEX_LABELS.get(person.sex or "")
    needs, recommendations, map_data = _needs(request, session, principal, person_id, locale)
    context = {
        "needs": needs,
        "recommendations": recommendations,
        "map_data": map_data,
        "locale_short": i18n.SHORT_CODE.get(locale, "zh"),
        "person": person,
        "person_sex": i18n.gettext(locale, sex) if sex else "",
        "community": region_name(person.community_code) if person.community_code else "",
        "records": [record_view(r, locale, region_name) for r in records],
        "can_review": can_review(principal),
        "separation": _separation(session, principal, person_id, separated),
        "undone": undone,
        "csrf_token": token_for(request),
    }
    response = render(request, "workbench/person.html", context, principal=principal)
    response.headers.update(review.NO_STORE)
    return response


# Needs carry health facts: clinicians and officials see them (as the profile API allows).
NEEDS_READERS = ("official", "doctor", "admin")


def _needs(
    request: Request, session: Session, principal: Principal, person_id: str, locale: str
) -> tuple[Any, Any, dict[str, Any]]:
    """The person's tags with their facts and the recommended providers, for the page."""
    if principal.role not in NEEDS_READERS:
        return None, None, {}
    library = default_library()
    profile = person_profile(session, principal, person_id, library=library)
    needs = {"as_of": profile.as_of, "tags": tag_views(locale, profile, library)}
    try:
        recs = recommend_for_person(
            session, principal, person_id, gettext=i18n.translations(locale).gettext, limit=3
        )
    except NoLocation:
        return needs, None, {}
    short = i18n.SHORT_CODE.get(locale, "zh")
    map_data = {
        "person": {
            "lat": recs.lat,
            "lon": recs.lon,
            "label": i18n.gettext(locale, "This resident"),
        },
        "providers": [
            {
                "service": (s.service_name if short == "zh" else s.service_name_en),
                "name": (c.name if short == "zh" else c.name_en),
                "lat": c.lat,
                "lon": c.lon,
                "rank": c.rank,
                "reason": c.reason,
            }
            for s in recs.services
            for c in s.choices
        ],
        "labels": {"error": i18n.gettext(locale, "The map could not be drawn.")},
    }
    return needs, recs, map_data


@router.get("/data/map")
def workbench_map(session: SessionDep, principal: Staff) -> dict[str, Any]:
    """District outlines (GeoJSON) of the caller's jurisdiction, behind the needs map."""
    overview = district_overview(session, principal.jurisdiction)
    shapes = district_shapes({d.code for d in overview.districts})
    if shapes is None:
        raise NotFound("no districts.geojson in the data directory's city/ folder")
    return shapes


@router.post(
    "/persons/{person_id}/records/{record_pk}/separate",
    dependencies=[Depends(page_guard(*REVIEWERS)), Depends(check_csrf)],
)
def separate_record(
    request: Request, session: SessionDep, principal: Reviewer, person_id: str, record_pk: str
) -> Response:
    """Split a wrongly linked record off this person; the page then offers "undo (unmerge)"."""
    back = f"/workbench/persons/{person_id}"
    try:
        pair = review_service.separate_record(session, principal, person_id, record_pk)
    except NotFound:
        raise review.not_found() from None
    except Conflict:
        return review.conflict_page(request, session, principal, back)
    return review.committed_redirect(session, back + "?" + urlencode({"separated": pair.id}))


router.include_router(review.router)
router.include_router(cases.router)
router.include_router(monitoring.router)
router.include_router(today.router)
router.include_router(complaints.router)
router.include_router(rectification.router)
router.include_router(rectification.flags_router)
