"""Use cases of the vaccination domain: a person's forecast and e-certificate from their doses.

Persons and their source records are read through the identity domain's service (which scopes
to the caller's jurisdiction and audits the read), never through its tables. Services flush;
the caller (endpoint, CLI command, job) commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.config import get_settings
from carematch.core.errors import InvalidInput
from carematch.identity import service as identity
from carematch.identity.errors import PersonNotFound
from carematch.providers.hours import CITY_TZ
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.keys import load_or_create_key
from carematch.vaccination import certificate
from carematch.vaccination.administration import administered_doses
from carematch.vaccination.certificate import CertificateContent, HolderNameUnknown
from carematch.vaccination.errors import BirthDateUnknown
from carematch.vaccination.forecast import Forecast, GivenDose, forecast, parse_registry_doses
from carematch.vaccination.schedule import Schedule, default_schedule

DOSES_FIELD = "doses"
"""The sensitive field in which the immunization registry (and doses imported from other
regions) carry a person's doses, in the text form ``HepB:2021-03-04|BCG:2021-03-04``."""


@lru_cache(maxsize=1)
def city_schedule() -> Schedule:
    """The schedule this installation forecasts with (the demo city's, shipped in the package).

    Parsed once per process: the file is part of the release, a new one comes with a restart.
    """
    return default_schedule()


@dataclass(frozen=True)
class PersonForecast:
    """A person's forecast and the inputs it was computed from."""

    person_id: str
    birth_date: date
    as_of: date
    schedule: Schedule
    forecast: Forecast
    unreadable: tuple[str, ...]


def doses_of(records: list[Any]) -> tuple[list[GivenDose], list[str]]:
    """Every dose in a person's source records, and the pieces of dose text that cannot be read.

    The doses given here (``administration.administered_doses``) are added by the callers.

    A child known to the registry twice (or with doses imported from another region) has the
    union; the forecaster counts a dose recorded twice on one day once.
    """
    doses: list[GivenDose] = []
    unreadable: list[str] = []
    for record in records:
        sensitive = json.loads(record.sensitive or "{}")
        text = sensitive.get(DOSES_FIELD)
        if isinstance(text, str) and text:
            got, bad = parse_registry_doses(text)
            doses.extend(got)
            unreadable.extend(bad)
    return doses, unreadable


def person_forecast(
    session: Session, principal: Principal, person_id: str, as_of: date | None = None
) -> PersonForecast:
    """Forecast a person's vaccinations on ``as_of`` (today by default).

    Raises:
        PersonNotFound: no such person in the caller's jurisdiction (404, as every person read).
        BirthDateUnknown: the golden record has no date of birth (409).
        InvalidInput: ``as_of`` so far out that due dates leave the calendar (400).
    """
    person, records = identity.read_person(session, principal, person_id)
    if person.birth_date is None:
        raise BirthDateUnknown(f"person {person_id} has no date of birth on record")
    when = as_of or city_today()
    doses, unreadable = doses_of(records)
    doses.extend(administered_doses(session, person.id))
    schedule = city_schedule()
    try:
        result = forecast(schedule, person.birth_date, when, doses)
    except (OverflowError, ValueError):
        raise InvalidInput(f"as_of {when.isoformat()} is out of the calendar's range") from None
    return PersonForecast(
        person_id=person.id,
        birth_date=person.birth_date,
        as_of=when,
        schedule=schedule,
        forecast=result,
        unreadable=tuple(unreadable),
    )


# --- e-certificates (电子接种证明) ------------------------------------------------------------

CERTIFICATE_KEY_FILE = "certificate-signing.key"
"""The Ed25519 seed (base64) in the data directory's secrets folder, mode 0600, made on first
use like the other key files (security.keys)."""
ISSUER = "CareMatch"
"""The issuer named in certificates; the key, not this name, is what a verifier trusts."""


@lru_cache(maxsize=8)
def _signing_key_at(path: str) -> Ed25519PrivateKey:
    return certificate.signing_key_from_seed(load_or_create_key(Path(path), None, 32))


def signing_key() -> Ed25519PrivateKey:
    """This installation's certificate signing key, created on first use.

    Raises:
        CertificateKeyError: the key file holds something other than a 32-byte seed.
    """
    path = get_settings().secrets_dir / CERTIFICATE_KEY_FILE
    return _signing_key_at(str(path.resolve()))


def installation_public_key() -> Ed25519PublicKey:
    """The public half of the signing key: what ``keys publish`` and ``/verify/key`` give out."""
    return signing_key().public_key()


def trusted_keys() -> dict[str, Ed25519PublicKey]:
    """The keys this installation's verifiers trust by default: its own."""
    return certificate.trust(installation_public_key())


@dataclass(frozen=True)
class IssuedCertificate:
    """A signed certificate for a person, what it says, and what its QR code holds."""

    person_id: str
    encoded: str
    content: CertificateContent
    url: str | None
    """The verify page's address with the certificate (None when no base URL was given)."""
    unreadable: tuple[str, ...]
    """Pieces of the registry's dose text that could not be read, so are not certified."""

    @property
    def qr_text(self) -> str:
        """What the QR code holds: the verify URL, or the bare certificate without one."""
        return self.url or self.encoded


def issue_person_certificate(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    base_url: str | None = None,
    issuer: str = ISSUER,
) -> IssuedCertificate:
    """Sign a certificate of the doses in a person's records, as of today.

    A resident gets their own and their registered dependants' (a parent, a child's). The
    read of the person is audited (as every person read), and so is the issue, with the
    certificate's id (never its content: the audit log is clear text).

    Raises:
        PersonNotFound: no such person in the caller's jurisdiction, or a resident asking for
            someone not theirs to act for (404, as every person read).
        BirthDateUnknown, HolderNameUnknown: the golden record cannot identify the holder (409).
        CertificateTooLarge: more doses than a readable QR code holds (409).
    """
    from carematch.booking.service import own_persons  # booking knows who acts for whom

    if principal.role == "resident" and person_id not in own_persons(session, principal):
        raise PersonNotFound(f"no person {person_id}")
    person, records = identity.read_person(session, principal, person_id)
    if person.birth_date is None:
        raise BirthDateUnknown(f"person {person_id} has no date of birth on record")
    name = (person.name or "").strip()
    if not name:
        raise HolderNameUnknown(f"person {person_id} has no name on record")
    now = utcnow()
    given, unreadable = doses_of(records)
    given.extend(administered_doses(session, person.id))
    # Doses are dated by the city's calendar: certify up to the city's today, not UTC's (a dose
    # given at 07:30 in the city is still "yesterday" in UTC until 08:00).
    as_of = now.astimezone(CITY_TZ).date()
    doses = certificate.certified_doses(city_schedule(), person.birth_date, as_of, given)
    encoded, content = certificate.issue(
        signing_key(),
        certificate.Holder(name, person.birth_date),
        doses,
        issuer=issuer,
        issued_at=now,
    )
    url = certificate.verify_url(encoded, base_url) if base_url else None
    certificate.qr_code(url or encoded)  # refuse before the audit says it was issued
    audit.record(
        session,
        actor=principal.username,
        action="issue_vaccination_certificate",
        entity="person",
        entity_id=person_id,
        detail={
            "certificate_id": content.certificate_id,
            "key_id": content.key_id,
            "doses": len(content.doses),
        },
    )
    return IssuedCertificate(person.id, encoded, content, url, tuple(unreadable))
