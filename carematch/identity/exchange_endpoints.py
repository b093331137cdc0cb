"""Cross-region exchange over the API: FHIR export, bundle import, consents, imported history.

Every person path answers 404 outside the caller's jurisdiction, like the other person reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.identity import exchange_service
from carematch.identity.service import visible_person
from carematch.security import consent as consents
from carematch.security.authz import Principal, require
from carematch.security.consent_models import Consent
from carematch.security.models import STAFF_ROLES

router = APIRouter(tags=["exchange"])

FHIR_JSON = "application/fhir+json"
Clinician = Annotated[Principal, Depends(require("official", "doctor"))]
Staff = Annotated[Principal, Depends(require(*sorted(STAFF_ROLES)))]
Importer = Annotated[Principal, Depends(require("official"))]
# Datetimes outside these years are typos, and near year 1 or 9999 converting a time zone
# to UTC overflows: refuse them as malformed rather than fail later.
MIN_YEAR, MAX_YEAR = 1900, 2200


class ConsentCreate(BaseModel):
    """A consent to record: purpose, grantee and period (start defaults to now)."""

    purpose: str = Field(default=consents.CROSS_REGION_CONTINUITY, max_length=64)
    grantee_region: str = Field(max_length=12, description="6-, 9- or 12-digit region code")
    grantee_organization: str | None = Field(default=None, max_length=128)
    period_start: datetime | None = None
    period_end: datetime

    @field_validator("period_start", "period_end")
    @classmethod
    def _plausible_year(cls, value: datetime | None) -> datetime | None:
        if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
            raise ValueError(f"year must lie between {MIN_YEAR} and {MAX_YEAR}")
        return value


class ConsentRevoke(BaseModel):
    """Why a consent is revoked (optional)."""

    reason: str | None = Field(default=None, max_length=500)


class ConsentPublic(BaseModel):
    """A recorded consent."""

    id: str
    person_id: str
    purpose: str
    grantee_region: str
    grantee_organization: str | None
    period_start: datetime
    period_end: datetime
    status: str
    recorded_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, c: Consent) -> ConsentPublic:
        return cls(
            id=c.id,
            person_id=c.person_id,
            purpose=c.purpose,
            grantee_region=c.grantee_region,
            grantee_organization=c.grantee_organization,
            period_start=consents.as_utc(c.period_start),
            period_end=consents.as_utc(c.period_end),
            status=c.status,
            recorded_by=c.recorded_by,
            created_at=consents.as_utc(c.created_at),
            revoked_by=c.revoked_by,
            revoked_at=consents.as_utc(c.revoked_at) if c.revoked_at else None,
        )


class ConsentsPublic(BaseModel):
    items: list[ConsentPublic]
    total: int
    limit: int
    offset: int


class HistoryItemPublic(BaseModel):
    """One resource another region sent, with where and when it came from."""

    id: str
    kind: str
    origin_node: str | None
    origin_region: str | None
    origin_record: str | None
    bundle_id: str | None
    exported_at: str | None
    imported_at: datetime
    data: dict[str, Any]


class HistoryPublic(BaseModel):
    items: list[HistoryItemPublic]
    total: int
    limit: int
    offset: int


class ImportSummaryPublic(BaseModel):
    """What an import stored; a replay of the same bundle reports new == updated == 0."""

    bundle_id: str
    origin_node: str
    origin_region: str | None
    consent_id: str
    resources: int
    new: int
    updated: int
    unchanged: int
    ignored: int
    person_id: str | None
    linked: int
    unlinked: int
    run_id: str | None


@router.get(
    "/persons/{person_id}/fhir",
    response_class=JSONResponse,
    responses={200: {"content": {FHIR_JSON: {}}, "description": "a FHIR R4B Bundle"}},
)
def export_fhir(
    session: SessionDep,
    principal: Clinician,
    person_id: str,
    to: Annotated[
        str | None,
        Query(
            max_length=12,
            description="destination region code; needs the person's consent. Without it, "
            "a local view that no other node will import",
        ),
    ] = None,
) -> JSONResponse:
    """The person's record as a FHIR R4B Bundle (audited); cross-region needs consent."""
    bundle = exchange_service.export_person(session, person_id, to_region=to, principal=principal)
    return JSONResponse(bundle, media_type=FHIR_JSON)


@router.get("/persons/{person_id}/exchange/history", response_model=HistoryPublic)
def get_exchange_history(
    session: SessionDep,
    principal: Clinician,
    person_id: str,
    limit: Limit = 50,
    offset: Offset = 0,
) -> HistoryPublic:
    """What other regions sent about the person, with provenance (audited)."""
    items = exchange_service.exchange_history(session, principal, person_id)
    page = items[offset : offset + limit]
    return HistoryPublic(
        items=[HistoryItemPublic.model_validate(i, from_attributes=True) for i in page],
        total=len(items),
        limit=limit,
        offset=offset,
    )


@router.post("/exchange/bundles", response_model=ImportSummaryPublic, status_code=201)
def import_bundle(
    session: SessionDep,
    principal: Importer,
    bundle: Annotated[dict[str, Any], Body(description="a FHIR R4B Bundle (collection)")],
) -> ImportSummaryPublic:
    """Import a bundle from another region; refused without a valid consent (403)."""
    # A staff importer is the receiver in their own region: the consent must cover it.
    summary = exchange_service.import_bundle(
        session, bundle, actor=principal.username, region=principal.jurisdiction
    )
    return ImportSummaryPublic(**summary.as_dict())


@router.get("/persons/{person_id}/consents", response_model=ConsentsPublic)
def list_consents(
    session: SessionDep,
    principal: Staff,
    person_id: str,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ConsentsPublic:
    """Every consent the person gave, newest first."""
    person = visible_person(session, principal, person_id)
    items = consents.person_consents(session, person.id)
    return ConsentsPublic(
        items=[ConsentPublic.of(c) for c in items[offset : offset + limit]],
        total=len(items),
        limit=limit,
        offset=offset,
    )


@router.post("/persons/{person_id}/consents", response_model=ConsentPublic, status_code=201)
def record_consent(
    session: SessionDep, principal: Staff, person_id: str, body: ConsentCreate
) -> ConsentPublic:
    """Record the consent a person gave (staff in the person's jurisdiction; audited)."""
    person = visible_person(session, principal, person_id)
    consent = consents.record_consent(
        session,
        person.id,
        purpose=body.purpose,
        grantee_region=body.grantee_region,
        grantee_organization=body.grantee_organization,
        period_start=body.period_start,
        period_end=body.period_end,
        actor=principal.username,
    )
    return ConsentPublic.of(consent)


@router.post("/persons/{person_id}/consents/{consent_id}/revoke", response_model=ConsentPublic)
def revoke_consent(
    session: SessionDep,
    principal: Staff,
    person_id: str,
    consent_id: str,
    body: Annotated[ConsentRevoke | None, Body()] = None,
) -> ConsentPublic:
    """Revoke a consent from now on (audited); exports already made stay in the audit log."""
    person = visible_person(session, principal, person_id)
    consent = consents.get_consent(session, consent_id)
    if consent.person_id != person.id:
        # Another person's consent id is "not found" here, whatever it is elsewhere.
        raise consents.ConsentNotFound(f"no consent {consent_id} for person {person_id}")
    revoked = consents.revoke_consent(
        session, consent_id, actor=principal.username, reason=body.reason if body else None
    )
    return ConsentPublic.of(revoked)
