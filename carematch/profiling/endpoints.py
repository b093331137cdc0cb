"""Profiles and demands under /api/v1; every route declares its authorisation."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.profiling import service
from carematch.profiling.errors import DemandNotFound
from carematch.profiling.models import Demand
from carematch.profiling.schemas import DemandPublic, DemandsPublic, ProfilePublic, TagPublic
from carematch.security import audit
from carematch.security.authz import Principal, require

router = APIRouter(tags=["profiling"])

# Features hold health and welfare data: clinicians and officials read them; grid workers
# work from the demand list (which carries no feature values).
ProfileReader = Annotated[Principal, Depends(require("official", "doctor"))]
DemandReader = Annotated[
    Principal, Depends(require("official", "doctor", "grid_worker", "vaccinator"))
]
DemandWriter = Annotated[Principal, Depends(require("official", "doctor", "vaccinator"))]
Status = Literal["open", "served", "closed"]


@router.get("/persons/{person_id}/profile", response_model=ProfilePublic)
def get_profile(
    session: SessionDep,
    principal: ProfileReader,
    person_id: str,
    as_of: Annotated[date | None, Query(description="evaluation date (default today)")] = None,
) -> ProfilePublic:
    """A person's features, demand tags with the facts behind each, and demands (audited)."""
    profile = service.person_profile(session, principal, person_id, as_of)
    return ProfilePublic(
        person_id=profile.person_id,
        as_of=date.fromisoformat(profile.as_of),
        features=profile.features,
        tags=[TagPublic(**t) for t in profile.tags],
        demands=[DemandPublic.of(d) for d in profile.demands],
    )


@router.get("/demands", response_model=DemandsPublic)
def list_demands(
    session: SessionDep,
    principal: DemandReader,
    status: Status | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    service_code: Annotated[str | None, Query(alias="service", max_length=64)] = None,
    community: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DemandsPublic:
    """Demands inside the caller's jurisdiction, most urgent first."""
    total, items = service.list_demands(
        session,
        principal,
        status=status,
        tag=tag,
        service=service_code,
        community=community,
        limit=limit,
        offset=offset,
    )
    return DemandsPublic(
        items=[DemandPublic.of(d) for d in items], total=total, limit=limit, offset=offset
    )


@router.post("/demands/{demand_id}/served", response_model=DemandPublic)
def serve_demand(session: SessionDep, principal: DemandWriter, demand_id: str) -> DemandPublic:
    """Record that a service met the demand (it is then never reopened)."""
    demand = session.get(Demand, demand_id)
    if demand is None or not principal.can_see(demand.community_code):
        raise DemandNotFound(f"no demand {demand_id}")
    served = service.mark_served(session, demand_id)
    audit.record(
        session,
        actor=principal.username,
        action="serve_demand",
        entity="demand",
        entity_id=demand_id,
        detail={"person_id": served.person_id, "service": served.service},
    )
    return DemandPublic.of(served)
