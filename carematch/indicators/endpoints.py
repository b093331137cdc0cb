"""Indicators under /api/v1/indicators: values against targets, series, warnings (officials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.indicators import service
from carematch.indicators.schemas import (
    IndicatorPointPublic,
    IndicatorSeriesPublic,
    IndicatorValuesPublic,
    IndicatorWarningPublic,
    IndicatorWarningsPublic,
    RectifyRequest,
)
from carematch.security.authz import Principal, require

router = APIRouter(prefix="/indicators", tags=["indicators"])

# Aggregates over regions, read by officials of the region (admin: everywhere).
Official = Annotated[Principal, Depends(require("official"))]
Region = Annotated[str | None, Query(max_length=12, description="region code (default: yours)")]
Disaggregation = Annotated[
    str, Query(max_length=16, description="total, hukou, age_group or policy")
]
Month = Annotated[str | None, Query(max_length=7, description="YYYY-MM")]


@router.get("", response_model=IndicatorValuesPublic)
def list_values(
    session: SessionDep,
    principal: Official,
    limit: Limit = 500,
    offset: Offset = 0,
    region: Region = None,
    disaggregation: Disaggregation = "total",
    indicator: Annotated[str | None, Query(max_length=64)] = None,
    period: Month = None,
    subregions: bool = False,
) -> IndicatorValuesPublic:
    """The latest month's values against target with status, for a region (or all inside it)."""
    found, items = service.latest_values(
        session,
        principal,
        region=region,
        disaggregation=disaggregation,
        indicator_id=indicator,
        period=period,
        subregions=subregions,
        limit=limit,
        offset=offset,
    )
    return IndicatorValuesPublic(
        period=found,
        items=[IndicatorPointPublic(**item) for item in items],
        composites=service.composites(items),
    )


@router.get("/warnings", response_model=IndicatorWarningsPublic)
def list_warnings(
    session: SessionDep,
    principal: Official,
    limit: Limit = 100,
    offset: Offset = 0,
    status: Annotated[str | None, Query(max_length=16)] = None,
    indicator: Annotated[str | None, Query(max_length=64)] = None,
) -> IndicatorWarningsPublic:
    """Abnormal drops inside your jurisdiction, newest first."""
    items = service.list_warnings(
        session, principal, status=status, indicator_id=indicator, limit=limit, offset=offset
    )
    return IndicatorWarningsPublic(items=[IndicatorWarningPublic(**w) for w in items])


@router.post("/warnings/{warning_id}/rectify", response_model=IndicatorWarningPublic)
def rectify(
    session: SessionDep, principal: Official, warning_id: str, body: RectifyRequest
) -> IndicatorWarningPublic:
    """Open a rectification-ledger item for a warning (the warning becomes ``rectifying``)."""
    found = service.rectify(
        session,
        principal,
        warning_id,
        measure=body.measure,
        deadline=body.deadline,
        department=body.department,
        category=body.category,
    )
    return IndicatorWarningPublic(**found)


@router.get("/{indicator_id}/series", response_model=IndicatorSeriesPublic)
def indicator_series(
    session: SessionDep,
    principal: Official,
    indicator_id: str,
    region: Region = None,
    disaggregation: Disaggregation = "total",
    key: Annotated[str, Query(max_length=64, description="breakdown value")] = "",
    since: Month = None,
    until: Month = None,
) -> IndicatorSeriesPublic:
    """One indicator's monthly series for a region and breakdown key, oldest first."""
    items = service.series(
        session,
        principal,
        indicator_id,
        region=region,
        disaggregation=disaggregation,
        group_key=key,
        since=since,
        until=until,
    )
    return IndicatorSeriesPublic(
        indicator_id=indicator_id,
        region_code=items[0]["region_code"] if items else region,
        disaggregation=disaggregation,
        group_key=key,
        items=[IndicatorPointPublic(**item) for item in items],
    )
