"""Demand forecasts under /api/v1/forecasting (officials; counts inside their jurisdiction).

The answers are aggregates (demands per district × service × week), not a person's data, so
reading them is not audited.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import SessionDep
from carematch.core.clock import city_today
from carematch.forecasting import service
from carematch.forecasting.schemas import (
    HotspotPublic,
    HotspotsPublic,
    SeriesPublic,
    WeekForecastPublic,
    WeekValuePublic,
)
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/forecasting", tags=["forecasting"])
Official = Annotated[Principal, Depends(require("official"))]
Horizon = Annotated[int, Query(ge=1, le=26, description="weeks ahead (13 = a quarter)")]


@router.get("/hotspots", response_model=HotspotsPublic)
def hotspots(
    session: SessionDep,
    principal: Official,
    horizon: Horizon = 13,
    rank: Annotated[str, Query(pattern="^(absolute|relative)$")] = "absolute",
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    as_of: Annotated[date | None, Query(description="count up to this day's week")] = None,
) -> HotspotsPublic:
    """District × service with the largest expected rise in weekly demand, with the interval."""
    day = as_of or city_today()
    found = service.hotspots(session, principal, horizon=horizon, rank=rank, as_of=day)
    items = [HotspotPublic(id=s.id, **asdict(s)) for s in found[offset : offset + limit]]
    return HotspotsPublic(as_of=day, horizon=horizon, rank=rank, total=len(found), items=items)


@router.get("/series", response_model=SeriesPublic)
def series(
    session: SessionDep,
    principal: Official,
    district: Annotated[str, Query(description="6-digit district code")],
    service_code: Annotated[str, Query(alias="service", description="service code")],
    horizon: Horizon = 13,
    as_of: Annotated[date | None, Query(description="count up to this day's week")] = None,
) -> SeriesPublic:
    """Weekly new demands of one district × service, and the forecast with its 80 % interval."""
    view = service.series_view(
        session, principal, district, service_code, horizon=horizon, as_of=as_of
    )
    result = view.forecast
    return SeriesPublic(
        district=view.district,
        service=view.service,
        method=result.method,
        history=[
            WeekValuePublic(week=w, value=v)
            for w, v in zip(view.history.weeks, view.history.values, strict=True)
        ],
        forecast=[
            WeekForecastPublic(
                week=w,
                forecast=float(result.forecast[k]),
                lo80=float(result.lo80[k]),
                hi80=float(result.hi80[k]),
            )
            for k, w in enumerate(result.weeks)
        ],
    )
