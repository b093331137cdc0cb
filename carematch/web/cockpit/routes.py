"""Cockpit pages and the JSON its charts draw from (officials only, scoped to jurisdiction)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from carematch.api.deps import SessionDep
from carematch.core.errors import NotFound
from carematch.core.models import Region
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.cockpit.allocation import router as allocation_router
from carematch.web.cockpit.budget import router as budget_router
from carematch.web.cockpit.data import district_overview, district_shapes, geojson_path
from carematch.web.cockpit.governance import router as governance_router
from carematch.web.cockpit.indicators import router as indicators_router
from carematch.web.cockpit.loop import loop_counts
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render

OFFICIALS = ("official",)
Official = Annotated[Principal, Depends(require(*OFFICIALS))]

# Chart labels are translated on the server and handed to the script as JSON, so the
# script itself holds no user-facing text.
CHART_LABELS = {
    "persons": N_("Residents"),
    "migrants": N_("Migrants"),
    "records": N_("Source records"),
    "map_title": N_("Residents by district"),
    "bar_title": N_("Residents, migrants and records by district"),
    "load_error": N_("The charts could not be loaded. Reload the page to try again."),
    "signed_out": N_("Your session has ended. Sign in again to see the charts."),
}

pages = APIRouter(dependencies=[Depends(page_guard(*OFFICIALS))], include_in_schema=False)
data = APIRouter(prefix="/cockpit/data", include_in_schema=False)


@pages.get("/cockpit", response_class=HTMLResponse)
def cockpit(request: Request, session: SessionDep, principal: Official) -> HTMLResponse:
    """Summary cards, the district map, a bar chart and the table, for the official's area."""
    locale = i18n.negotiate(request)
    overview = district_overview(session, principal.jurisdiction)
    labels = {key: i18n.gettext(locale, text) for key, text in CHART_LABELS.items()}
    area = session.get(Region, principal.region_code) if principal.region_code else None
    context = {
        "area_name": i18n.localized_name(area.name, area.name_en, locale) if area else None,
        "overview": overview,
        "totals": overview.totals(),
        "map_available": overview.loaded and geojson_path().is_file(),
        "chart_labels": labels,
        "loop": loop_counts(session, principal.jurisdiction),
    }
    return render(request, "cockpit/index.html", context, principal=principal)


@data.get("/districts")
def districts_data(request: Request, session: SessionDep, principal: Official) -> dict[str, Any]:
    """Residents, migrants and source records per district inside the caller's jurisdiction."""
    overview = district_overview(session, principal.jurisdiction)
    return overview.as_json(i18n.negotiate(request))


@data.get("/loop")
def loop_data(session: SessionDep, principal: Official) -> dict[str, Any]:
    """The closed loop's counts (needs → bookings → visits → ratings) in the jurisdiction."""
    return loop_counts(session, principal.jurisdiction).as_json()


@data.get("/map")
def districts_map(session: SessionDep, principal: Official) -> dict[str, Any]:
    """The district outlines (GeoJSON) of the caller's jurisdiction, for echarts.registerMap."""
    overview = district_overview(session, principal.jurisdiction)
    shapes = district_shapes({d.code for d in overview.districts})
    if shapes is None:
        raise NotFound("no districts.geojson in the data directory's city/ folder")
    return shapes


pages.include_router(allocation_router)
pages.include_router(governance_router)
pages.include_router(budget_router)
pages.include_router(indicators_router)
