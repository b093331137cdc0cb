"""The vaccination API under /api/v1; every route declares its authorisation (security.authz)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from carematch.api.deps import SessionDep
from carematch.security.authz import Principal, require
from carematch.vaccination import certificate, service
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


# --- e-certificates ----------------------------------------------------------------------------

# The holder may fetch their own certificate; staff as for the forecast.
CERTIFICATE_READERS = (*FORECAST_READERS, "resident")
CertificateReader = Annotated[Principal, Depends(require(*CERTIFICATE_READERS))]
# A certificate names a person and their doses: no shared cache may keep it.
_PRIVATE = {"Cache-Control": "no-store"}


class CertifiedDosePublic(BaseModel):
    """One certified dose; ``dose`` is null for a dose the schedule does not count."""

    series: str
    date: date
    dose: int | None = None
    lot: str | None = None


class CertificateHolderPublic(BaseModel):
    """Whom the certificate is about: name and date of birth, to compare with an ID."""

    name: str
    birth_date: date


class VaccinationCertificatePublic(BaseModel):
    """A signed vaccination certificate (电子接种证明), what it says, and its QR code."""

    person_id: str
    certificate: str
    """The encoded certificate (base64url); ``carematch vaccination verify`` reads it."""
    url: str
    """The verify page's address with the certificate: what the QR code holds."""
    qr_svg: str
    certificate_id: str
    key_id: str
    issuer: str
    issued_at: datetime
    holder: CertificateHolderPublic
    doses: list[CertifiedDosePublic]
    unreadable: list[str]
    """Pieces of the registry's dose text that could not be read, so are not certified."""


@router.get(
    "/persons/{person_id}/vaccination-certificate",
    response_model=VaccinationCertificatePublic,
    responses={
        200: {
            "content": {"image/png": {}, "image/svg+xml": {}},
            "description": "JSON, or the QR code alone with format=png or format=svg",
        }
    },
)
def get_vaccination_certificate(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CertificateReader,
    person_id: str,
    format: Annotated[
        Literal["json", "png", "svg"],
        Query(description="json (default): the certificate and its QR as SVG; png or svg: the QR"),
    ] = "json",
) -> VaccinationCertificatePublic | Response:
    """Sign a certificate of a person's doses as of today; each call issues a new one.

    The QR code holds this server's verify page address with the certificate, so a phone
    camera opens the check directly. Residents get only their own (404 for anyone else); 404
    outside the caller's jurisdiction; the read and the issue are audited.
    """
    issued = service.issue_person_certificate(
        session, principal, person_id, base_url=str(request.base_url)
    )
    name = f"vaccination-certificate-{issued.content.certificate_id}"
    if format == "png":
        return Response(
            certificate.qr_png(issued.qr_text),
            media_type="image/png",
            headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="{name}.png"'},
        )
    svg = certificate.qr_svg(issued.qr_text)
    if format == "svg":
        return Response(
            svg,
            media_type="image/svg+xml",
            headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="{name}.svg"'},
        )
    response.headers.update(_PRIVATE)
    content = issued.content
    return VaccinationCertificatePublic(
        person_id=issued.person_id,
        certificate=issued.encoded,
        url=issued.qr_text,
        qr_svg=svg,
        certificate_id=content.certificate_id,
        key_id=content.key_id,
        issuer=content.issuer,
        issued_at=content.issued_at,
        holder=CertificateHolderPublic(
            name=content.holder.name, birth_date=content.holder.birth_date
        ),
        doses=[
            CertifiedDosePublic(series=d.series, date=d.date, dose=d.dose, lot=d.lot)
            for d in content.doses
        ],
        unreadable=list(issued.unreadable),
    )


# --- quality indicators (R-VX-7) ---------------------------------------------------------------


class ChildMissPublic(BaseModel):
    children: int
    missed: int
    rate: float | None


class VaccinationQualityPublic(BaseModel):
    """The vaccination quality indicators of a period and region (definitions in
    ``carematch.vaccination.quality``)."""

    since: date
    until: date
    region: str | None
    bookings: int
    kept: int
    no_show: int
    booking_success_rate: float | None
    prescreen_outcomes: dict[str, int]
    reviewed: int
    review_agreed: int
    review_agreement: float | None
    booking_lead_days_median: float | None
    clinic_wait_minutes_median: float | None
    doses_given: int
    aefi_reports: int
    aefi_serious: int
    aefi_rate_per_100k: float | None
    children: dict[str, ChildMissPublic]


@router.get("/vaccination/quality", response_model=VaccinationQualityPublic)
def get_vaccination_quality(
    session: SessionDep,
    principal: ForecastReader,
    since: Annotated[date, Query(description="first city day of the period, YYYY-MM-DD")],
    until: Annotated[date, Query(description="the day after the period, YYYY-MM-DD")],
    region: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{2,12}$", description="a region inside yours; yours by default"),
    ] = None,
    children: Annotated[
        bool, Query(description="also the children's miss rate (reads every profile)")
    ] = True,
) -> VaccinationQualityPublic:
    """Booking success, pre-screening outcomes and review agreement, waiting times, doses
    given, the AEFI rate and children's miss rate by hukou, within the caller's jurisdiction
    (a region outside it is 404, as for any record outside it)."""
    from carematch.core.errors import NotFound
    from carematch.vaccination.quality import quality_indicators

    scope = region or principal.jurisdiction
    if region is not None and not principal.can_see(region):
        raise NotFound(f"no region {region} in your jurisdiction")
    result = quality_indicators(session, since, until, region=scope, with_children=children)
    return VaccinationQualityPublic.model_validate(result.as_dict())
