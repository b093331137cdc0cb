"""Consent (知情同意): record, revoke and look up a person's permission to share their record.

A consent names a purpose (today only ``cross_region_continuity``: sending the record to
another region so care continues there, 跨区域连续诊疗), a grantee region (and optionally an
organisation) and a period. It covers an export to region R at time t when it is active, its
purpose matches, ``period_start <= t <= period_end`` and R lies inside the grantee region (a
consent to 440100 covers 440106, not the reverse). Services flush; the caller commits.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.security import audit
from carematch.security.consent_models import Consent
from carematch.security.jurisdiction import within

CROSS_REGION_CONTINUITY = "cross_region_continuity"
PURPOSES: dict[str, tuple[str, str]] = {
    CROSS_REGION_CONTINUITY: ("跨区域连续诊疗", "Cross-region continuity of care"),
}
STATUSES = ("active", "revoked")
REGION_CODE = re.compile(r"^\d{6}(\d{3}){0,2}$")


class ConsentNotFound(NotFound):
    type = "/problems/consent-not-found"
    title = "Consent not found"


class InvalidConsent(InvalidInput):
    type = "/problems/invalid-consent"
    title = "Invalid consent"


class ConsentAlreadyRevoked(Conflict):
    type = "/problems/consent-revoked"
    title = "Consent already revoked"


class ConsentTerms(Protocol):
    """What the coverage rule reads: a Consent row, or the terms parsed from a FHIR Consent."""

    @property
    def purpose(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def grantee_region(self) -> str: ...
    @property
    def period_start(self) -> datetime: ...
    @property
    def period_end(self) -> datetime: ...


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; naive values are UTC (SQLite returns stored datetimes naive)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def is_region_code(code: str) -> bool:
    """True for a 6-, 9- or 12-digit statistical division code (province … community)."""
    return bool(REGION_CODE.match(code))


def why_not_covered(
    terms: ConsentTerms, *, purpose: str, region: str | None, at: datetime
) -> str | None:
    """The reason ``terms`` does not permit sharing for ``purpose`` with ``region`` at ``at``.

    None means the consent covers it. ``region`` None skips the grantee check (the receiver
    does not know its own region). The same rule decides at export and at import.
    """
    if terms.status != "active":
        return f"the consent is {terms.status}"
    if terms.purpose != purpose:
        return f"the consent is for {terms.purpose!r}, not {purpose!r}"
    at = as_utc(at)
    if at < as_utc(terms.period_start):
        return f"the consent starts on {as_utc(terms.period_start).isoformat()}"
    if at > as_utc(terms.period_end):
        return f"the consent ended on {as_utc(terms.period_end).isoformat()}"
    if region is not None and not within(region, terms.grantee_region):
        return f"the consent grants region {terms.grantee_region}, which does not cover {region}"
    return None


def record_consent(
    session: Session,
    person_id: str,
    *,
    purpose: str,
    grantee_region: str,
    period_end: datetime,
    period_start: datetime | None = None,
    grantee_organization: str | None = None,
    actor: str = "cli",
) -> Consent:
    """Record a consent the person gave (the caller has checked the person is visible)."""
    if purpose not in PURPOSES:
        raise InvalidConsent(f"unknown purpose {purpose!r}; purposes: {', '.join(PURPOSES)}")
    grantee_region = grantee_region.strip()
    if not is_region_code(grantee_region):
        raise InvalidConsent(
            f"grantee_region must be a 6-, 9- or 12-digit region code, got {grantee_region!r}"
        )
    start = as_utc(period_start or utcnow())
    end = as_utc(period_end)
    if end <= start:
        raise InvalidConsent("period_end must be after period_start")
    organization = (grantee_organization or "").strip() or None
    consent = Consent(
        id=new_id(),
        person_id=person_id,
        purpose=purpose,
        grantee_region=grantee_region,
        grantee_organization=organization,
        period_start=start,
        period_end=end,
        status="active",
        recorded_by=actor,
        created_at=utcnow(),
    )
    session.add(consent)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="record_consent",
        entity="consent",
        entity_id=consent.id,
        detail={"person_id": person_id, "purpose": purpose, "grantee_region": grantee_region},
    )
    return consent


def get_consent(session: Session, consent_id: str) -> Consent:
    """One consent by id; ConsentNotFound when there is none."""
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise ConsentNotFound(f"no consent {consent_id}")
    return consent


def revoke_consent(
    session: Session, consent_id: str, *, actor: str = "cli", reason: str | None = None
) -> Consent:
    """Revoke a consent from now on; exports already made stay in the audit log."""
    consent = get_consent(session, consent_id)
    if consent.status == "revoked":
        raise ConsentAlreadyRevoked(f"consent {consent_id} was already revoked")
    consent.status = "revoked"
    consent.revoked_by = actor
    consent.revoked_at = utcnow()
    consent.revocation_reason = (reason or "").strip() or None
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="revoke_consent",
        entity="consent",
        entity_id=consent.id,
        detail={"person_id": consent.person_id},
    )
    return consent


def person_consents(session: Session, person_id: str) -> list[Consent]:
    """Every consent a person gave, newest first."""
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.person_id == person_id)
            .order_by(Consent.created_at.desc(), Consent.id)
        )
    )


def covering_consent(
    session: Session, person_id: str, *, purpose: str, region: str, at: datetime | None = None
) -> Consent | None:
    """The consent that permits sharing the person's record for ``purpose`` with ``region``.

    When several cover, the one ending last wins (it stays valid longest).
    """
    at = at or utcnow()
    # A person has a handful of consents: fetch them and apply the one rule in Python rather
    # than restate it in SQL (SQLite compares stored datetimes as naive strings).
    candidates = session.scalars(
        select(Consent).where(
            Consent.person_id == person_id,
            Consent.purpose == purpose,
            Consent.status == "active",
        )
    )
    covering = [
        c for c in candidates if why_not_covered(c, purpose=purpose, region=region, at=at) is None
    ]
    if not covering:
        return None
    return max(covering, key=lambda c: (as_utc(c.period_end), c.id))
