"""The providers API under /api/v1; every route declares its authorisation (security.authz).

Reading the registry is public: R-SP-2 has residents find "the nearest provider best at my
need" by scanning a code, without an account, and the registry holds no personal data (phones
are switchboards). Changing it is for officials (bounded by their jurisdiction) and admins.
"""

from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, UploadFile

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.core.clock import utcnow
from carematch.providers import repository, service
from carematch.providers.catalogue import CAPABILITIES, PROVIDER_KINDS
from carematch.providers.errors import ImportRunNotFound
from carematch.providers.schemas import (
    NearbyPublic,
    NearestPublic,
    ProviderDetail,
    ProviderQuarantinePublic,
    ProvidersPublic,
    ProviderSummary,
    QuarantinedProviderRow,
)
from carematch.security.authz import Principal, public, require

router = APIRouter(tags=["providers"])
RUN_ID = re.compile(r"^[0-9a-f]{32}$")

PUBLIC = [Depends(public())]
RegistryEditor = Annotated[Principal, Depends(require("official"))]
Kind = Literal[PROVIDER_KINDS]  # type: ignore[valid-type]
Capability = Literal[CAPABILITIES]  # type: ignore[valid-type]
ServiceCode = Annotated[str, Query(min_length=1, max_length=64, description="service code")]
Latitude = Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False, description="WGS 84")]
Longitude = Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False, description="WGS 84")]


@router.get("/providers", response_model=ProvidersPublic, dependencies=PUBLIC)
def list_providers(
    session: SessionDep,
    limit: Limit = 50,
    offset: Offset = 0,
    service_code: Annotated[str | None, Query(alias="service", min_length=1, max_length=64)] = None,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$", description="region code, any level")
    ] = None,
    kind: Kind | None = None,
    language: Annotated[str | None, Query(pattern=r"^[a-z]{2,3}$")] = None,
    capability: Capability | None = None,
) -> ProvidersPublic:
    """Active providers by id, filtered by service, region (and below), kind, language, skill."""
    total, views = service.list_providers(
        session,
        limit=limit,
        offset=offset,
        service=service_code,
        region=region,
        kind=kind,
        language=language,
        capability=capability,
    )
    return ProvidersPublic(
        items=[ProviderSummary.of(v) for v in views], total=total, limit=limit, offset=offset
    )


@router.get("/providers/nearest", response_model=NearestPublic, dependencies=PUBLIC)
def nearest_providers(
    session: SessionDep,
    service_code: Annotated[str, Query(alias="service", min_length=1, max_length=64)],
    lat: Latitude,
    lon: Longitude,
    at: Annotated[
        datetime | None, Query(description="ISO time; without an offset it is city time (UTC+8)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_NEAREST)] = 10,
    open_only: Annotated[bool, Query(description="only providers open at `at`")] = False,
    max_km: Annotated[float | None, Query(gt=0, le=20_000, allow_inf_nan=False)] = None,
) -> NearestPublic:
    """The nearest providers offering a service, each open at ``at`` or with its next opening.

    Vans count at the stop where they are (or next will be), with that stop's location.
    """
    when = at or utcnow()
    found = service.nearest(
        session, service_code, lat, lon, when, limit=limit, open_only=open_only, max_km=max_km
    )
    return NearestPublic(
        service=service_code,
        lat=lat,
        lon=lon,
        at=when,
        open_only=open_only,
        items=[NearbyPublic.of(n) for n in found],
    )


@router.post("/providers/import", response_model=dict, status_code=201)
def import_providers(
    session: SessionDep,
    principal: RegistryEditor,
    providers: UploadFile,
    services: UploadFile | None = None,
    van_stops: UploadFile | None = None,
) -> dict:
    """Import a providers CSV (and optionally services and van-stops CSVs); returns the summary.

    An official may only change providers inside their jurisdiction; other rows are rejected.
    """
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, Path | None] = {}
        uploads = {"providers": providers, "services": services, "stops": van_stops}
        for name, upload in uploads.items():
            if upload is None:
                paths[name] = None
                continue
            paths[name] = Path(tmp) / f"{name}.csv"
            paths[name].write_bytes(upload.file.read())  # type: ignore[union-attr]
        main = paths["providers"]
        assert main is not None
        summary = service.import_providers(
            session,
            main,
            services=paths["services"],
            stops=paths["stops"],
            actor=principal.username,
            jurisdiction=principal.jurisdiction,
        )
    return summary.as_dict()


@router.get("/providers/import/runs/{run_id}/quarantine", response_model=ProviderQuarantinePublic)
def import_quarantine(
    session: SessionDep,
    principal: RegistryEditor,
    run_id: str,
    limit: Limit = 100,
    offset: Offset = 0,
) -> ProviderQuarantinePublic:
    """Rows an import rejected, verbatim with their reasons."""
    if not RUN_ID.match(run_id) or repository.get_run(session, run_id) is None:
        raise ImportRunNotFound(f"no provider import run {run_id}")
    rows = repository.run_quarantine(session, run_id, limit, offset)
    return ProviderQuarantinePublic(
        items=[QuarantinedProviderRow.of(q) for q in rows], limit=limit, offset=offset
    )


@router.get("/providers/{provider_id}", response_model=ProviderDetail, dependencies=PUBLIC)
def get_provider(session: SessionDep, provider_id: str) -> ProviderDetail:
    """One provider with its services and terms, opening ranges and van stops."""
    return ProviderDetail.of(service.get_provider(session, provider_id))
