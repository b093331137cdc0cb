"""The vaccination API under /api/v1; every route declares its authorisation (security.authz)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import SessionDep
from carematch.security.authz import Principal, require
from carematch.vaccination import service
from carematch.vaccination.schemas import (
    InvalidDosePublic,
    SeriesForecastPublic,
    VaccinationForecastPublic,
)

router = APIRouter(tags=["vaccination"])

# Staff who plan, give or oversee vaccinations; a person's doses are health data, so grid
# workers and civil-affairs officers (who see the person) do not see them.
FORECAST_READERS = ("official", "doctor", "vaccinator")
ForecastReader = Annotated[Principal, Depends(require(*FORECAST_READERS))]


@router.get("/persons/{person_id}/vaccination-forecast", response_model=VaccinationForecastPublic)
def get_vaccination_forecast(
    session: SessionDep,
    principal: ForecastReader,
    person_id: str,
    as_of: Annotated[
        date | None, Query(description="assessment date YYYY-MM-DD; today when left out")
    ] = None,
) -> VaccinationForecastPublic:
    """Each series' next dose, due date and status for a person, from their linked records.

    404 outside the caller's jurisdiction; the read is audited like every person read.
    """
    result = service.person_forecast(session, principal, person_id, as_of)
    names = {s.code: s.name for s in result.schedule.series}
    return VaccinationForecastPublic(
        person_id=result.person_id,
        schedule=result.schedule.name,
        birth_date=result.birth_date,
        as_of=result.as_of,
        doses_overdue=result.forecast.doses_overdue,
        forecast=[
            SeriesForecastPublic(
                series=e.series,
                name=names[e.series],
                status=e.status,
                dose=e.dose,
                due_date=e.due_date,
                requires=list(e.requires),
            )
            for e in result.forecast.entries
        ],
        invalid=[
            InvalidDosePublic(series=d.series, date=d.date, reason=d.reason)
            for d in result.forecast.invalid
        ],
        unreadable=list(result.unreadable),
    )
