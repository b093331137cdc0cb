"""The doses-given API: /api/v1/vaccination/administrations (record, list, release).

Vaccinators and doctors record a dose; officials, doctors and vaccinators read a person's doses
(audited); a resident reads their own. Recording refuses an unusable lot with a 409 saying why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from carematch.api.deps import SessionDep
from carematch.security.authz import Principal, require
from carematch.vaccination import administration
from carematch.vaccination.models import Administration

router = APIRouter(prefix="/vaccination/administrations", tags=["vaccination"])

Giver = Annotated[Principal, Depends(require("vaccinator", "doctor"))]
Reader = Annotated[Principal, Depends(require("official", "doctor", "vaccinator", "resident"))]
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,32}$")]
_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "refused as given", **_PROBLEM},
    404: {"description": "not found or not visible", **_PROBLEM},
    409: {"description": "the lot may not be used, or the dose is recorded", **_PROBLEM},
}


class AdministrationCreate(BaseModel):
    """A dose given: to whom, from which lot, which series and dose, where on the body."""

    person_id: Id
    lot_id: Id
    series: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")]
    dose_number: int = Field(ge=1, le=20)
    site: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    administered_at: AwareDatetime | None = None
    provider_id: Id | None = None


class AdministrationPublic(BaseModel):
    """A recorded dose, its observation end and the leaf of its cold-chain event."""

    id: str
    person_id: str
    lot_id: str
    series: str
    dose_number: int
    site: str
    vaccinator: str
    provider_id: str | None
    administered_at: datetime
    observe_until: datetime
    released_at: datetime | None
    event_index: int

    @classmethod
    def of(cls, row: Administration) -> AdministrationPublic:
        return cls(
            id=row.id,
            person_id=row.person_id,
            lot_id=row.lot_id,
            series=row.series,
            dose_number=row.dose_number,
            site=row.site,
            vaccinator=row.vaccinator,
            provider_id=row.provider_id,
            administered_at=row.administered_at,
            observe_until=row.observe_until,
            released_at=row.released_at,
            event_index=row.event_index,
        )


class AdministrationsPublic(BaseModel):
    items: list[AdministrationPublic]


@router.post("", response_model=AdministrationPublic, status_code=201, responses=ERRORS)
def record(
    session: SessionDep, principal: Giver, body: AdministrationCreate, response: Response
) -> AdministrationPublic:
    """Record a dose: checks the lot, logs the "administered" event, starts 30 min observation."""
    row = administration.record_administration(
        session,
        principal,
        person_id=body.person_id,
        lot_id=body.lot_id,
        series=body.series,
        dose_number=body.dose_number,
        site=body.site,
        administered_at=body.administered_at,
        provider_id=body.provider_id,
    )
    response.headers["Location"] = f"/api/v1/vaccination/administrations?person_id={row.person_id}"
    return AdministrationPublic.of(row)


@router.get("", response_model=AdministrationsPublic, responses=ERRORS)
def list_for_person(
    session: SessionDep,
    principal: Reader,
    person_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9]{1,32}$")],
) -> AdministrationsPublic:
    """A person's doses given here (a resident: their own); the read is audited."""
    rows = administration.person_administrations(session, principal, person_id)
    return AdministrationsPublic(items=[AdministrationPublic.of(r) for r in rows])


@router.post("/{administration_id}/release", response_model=AdministrationPublic, responses=ERRORS)
def release(session: SessionDep, principal: Giver, administration_id: str) -> AdministrationPublic:
    """End the person's observation (they may leave)."""
    return AdministrationPublic.of(administration.release(session, principal, administration_id))
