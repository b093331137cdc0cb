"""The public service map (扫码查询): "离我最近、最擅长我的需求" from a community or a point.

No sign-in: the registry holds no personal data, and a resident reaches this page by scanning
the code posted in their community (``/services/nearby?community=…``) or by sharing their
phone's location. The ranking is the recommendation engine's, with a reason for each provider.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from carematch.api.deps import SessionDep
from carematch.core.errors import CareMatchError, NotFound
from carematch.core.models import Region
from carematch.core.regions import districts
from carematch.matching.service import NoLocation, person_location, recommend_at
from carematch.providers.catalogue import CAPABILITIES, service_catalogue
from carematch.security.authz import Principal, optional_principal, public
from carematch.web import i18n
from carematch.web.cockpit.data import district_shapes
from carematch.web.i18n import N_
from carematch.web.templating import render

router = APIRouter(dependencies=[Depends(public())], include_in_schema=False)
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]

NEED_LABELS = {
    "elderly_chronic_care": N_("Elderly and chronic care"),
    "maternal_child": N_("Mothers and children"),
    "mental_health": N_("Mental health"),
    "occupational_health": N_("Occupational health"),
    "tb": N_("Tuberculosis"),
    "vaccination": N_("Vaccination"),
    "rehabilitation": N_("Rehabilitation"),
    "emergency": N_("Emergency care"),
    "family_doctor": N_("Family doctor"),
    "hiv": N_("HIV care"),
}


def _communities(session: Any, locale: str) -> list[dict[str, str]]:
    """Communities grouped under their district, names in the page's language."""
    rows = session.scalars(
        select(Region).where(Region.level.in_(("district", "community"))).order_by(Region.code)
    ).all()
    english = locale == "en"
    names = {r.code: (r.name_en or r.name) if english else r.name for r in rows}
    return [
        {"code": r.code, "label": f"{names.get(r.code[:6], '')} · {names[r.code]}"}
        for r in rows
        if r.level == "community"
    ]


@router.get("/services/nearby", response_class=HTMLResponse)
def nearby(
    request: Request,
    session: SessionDep,
    principal: MaybePrincipal,
    service: Annotated[str | None, Query(max_length=64)] = None,
    community: Annotated[str | None, Query(max_length=12)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    need: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """Pick a service (and what you need help with); see the nearest and best providers."""
    locale = i18n.negotiate(request)
    english = locale == "en"
    catalogue = service_catalogue()
    services = [
        {"code": s.code, "label": s.name_en if english else s.name} for s in catalogue.values()
    ]
    needs = [{"code": c, "label": i18n.gettext(locale, NEED_LABELS[c])} for c in CAPABILITIES]
    context: dict[str, Any] = {
        "services": services,
        "needs": needs,
        "communities": _communities(session, locale),
        "chosen": {"service": service, "community": community, "need": need},
        "result": None,
        "problem": None,
        "map_data": {},
    }
    if service:
        try:
            if service not in catalogue:
                raise NotFound(i18n.gettext(locale, "Unknown service."))
            if need and need not in CAPABILITIES:
                raise NotFound(i18n.gettext(locale, "Unknown need."))
            if lat is not None and lon is not None:
                point = (lat, lon)
            elif community:
                point = person_location(session, community)
            else:
                raise NoLocation("no place given")
            result = recommend_at(
                session,
                service,
                point[0],
                point[1],
                gettext=i18n.translations(locale).gettext,
                needs=(need,) if need else (),
                limit=10,
            )
        except NoLocation:
            context["problem"] = i18n.gettext(
                locale, "Choose your community or share your location."
            )
        except CareMatchError as problem:
            context["problem"] = problem.detail
        else:
            context["result"] = result
            context["map_data"] = {
                "person": {
                    "lat": point[0],
                    "lon": point[1],
                    "label": i18n.gettext(locale, "You are here"),
                },
                "providers": [
                    {
                        "service": result.service_name_en if english else result.service_name,
                        "name": c.name_en if english else c.name,
                        "lat": c.lat,
                        "lon": c.lon,
                        "rank": c.rank,
                        "reason": c.reason,
                    }
                    for c in result.choices
                ],
                "labels": {"error": i18n.gettext(locale, "The map could not be drawn.")},
            }
    context["english"] = english
    return render(request, "resident/nearby.html", context, principal=principal)


@router.get("/services/data/map")
def city_map(session: SessionDep) -> dict[str, Any]:
    """The district outlines (GeoJSON) of the whole city: public geography, no personal data."""
    shapes = district_shapes({d.code for d in districts(session)})
    if shapes is None:
        raise NotFound("no districts.geojson in the data directory's city/ folder")
    return shapes
