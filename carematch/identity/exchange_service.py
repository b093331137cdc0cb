"""Use cases of cross-region exchange: export a person as a FHIR bundle, import one, read it.

Export needs the person's consent for ``cross_region_continuity`` covering the destination;
import needs the bundle to carry such a consent. Imported resources become source records of
the ``exchange`` source and are linked to the person already known here with
:func:`carematch.identity.service.link_records`. Services flush; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id, stable_id
from carematch.identity import repository
from carematch.identity.errors import PersonNotFound
from carematch.identity.exchange import (
    ConsentFacts,
    ConsentRequired,
    ImportedResource,
    Origin,
    ParsedBundle,
    PatientFacts,
    RecordView,
    build_bundle,
    history_from_records,
    parse_bundle,
)
from carematch.identity.ingest import normalise_name, normalise_phone
from carematch.identity.models import IngestRun, Person, SourceRecord
from carematch.identity.service import link_records, visible_person
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.consent import (
    CROSS_REGION_CONTINUITY,
    as_utc,
    covering_consent,
    is_region_code,
    person_consents,
    why_not_covered,
)
from carematch.security.crypto import current_cipher
from carematch.synth.idcard import is_valid_id, upgrade_15_to_18

EXCHANGE_SOURCE = "exchange"
# Trust rank for survivorship: second-hand data from another region yields to every local
# department on identity fields (lower wins; the survey, the least trusted local source, is 60).
EXCHANGE_TRUST = 70
EXCHANGE_LABELS = ("跨区域交换", "Cross-region exchange (FHIR)")


class InvalidRegion(InvalidInput):
    type = "/problems/invalid-region"
    title = "Invalid region code"


@dataclass(frozen=True)
class _Terms:
    """A bundle consent's terms once every part the rule needs is known to be present."""

    purpose: str
    status: str
    grantee_region: str
    period_start: datetime
    period_end: datetime


@dataclass
class ImportSummary:
    """What one import did; a second import of the same bundle has ``new == updated == 0``."""

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

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def node_id() -> str:
    """This installation's node id: stable, distinct per installation, revealing nothing.

    Derived from the field key (an HMAC under it), so it needs no setting and no extra file,
    and two data directories (two installations) get different ids.
    """
    return current_cipher().blind_index("carematch-node", "node")[:16]


def ensure_exchange_source(session: Session) -> None:
    """Register the ``exchange`` source (idempotent) so its records can be stored."""
    repository.ensure_sources(session, [(EXCHANGE_SOURCE, *EXCHANGE_LABELS, EXCHANGE_TRUST)])


# --- export ------------------------------------------------------------------------------


def export_person(
    session: Session,
    person_id: str,
    *,
    to_region: str | None,
    actor: str = "cli",
    principal: Principal | None = None,
    origin_region: str | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The person's record as a FHIR R4B Bundle for ``to_region`` (audited).

    With a principal the person must lie in their jurisdiction (404 otherwise, like every
    person read). With ``to_region`` the person's consent for cross-region continuity must
    cover that region now, and the bundle carries it; without, the bundle is a local FHIR view
    with no consent, which any other node will refuse to import.
    """
    at = as_utc(at or utcnow())
    if principal is not None:
        person = visible_person(session, principal, person_id)
    else:
        found = repository.get_person(session, person_id)
        if found is None:
            raise PersonNotFound(f"no person {person_id}")
        person = found
    consent_facts = None
    if to_region is not None:
        to_region = to_region.strip()
        if not is_region_code(to_region):
            raise InvalidRegion(f"to must be a 6-, 9- or 12-digit region code, got {to_region!r}")
        consent = covering_consent(
            session, person.id, purpose=CROSS_REGION_CONTINUITY, region=to_region, at=at
        )
        if consent is None:
            raise ConsentRequired(
                _no_consent_detail(session, person.id, to_region, at),
                purpose=CROSS_REGION_CONTINUITY,
                region=to_region,
            )
        consent_facts = ConsentFacts(
            consent_id=consent.id,
            purpose=consent.purpose,
            status=consent.status,
            grantee_region=consent.grantee_region,
            period_start=as_utc(consent.period_start),
            period_end=as_utc(consent.period_end),
            grantee_organization=consent.grantee_organization,
            recorded_at=as_utc(consent.created_at),
        )
    records = repository.person_records(session, person.id)
    history = history_from_records(_patient_facts(person), person.id, map(_record_view, records))
    if origin_region is None and person.community_code:
        origin_region = person.community_code[:6]
    bundle_id = new_id()
    bundle = build_bundle(
        history, Origin(node_id(), origin_region, at), consent_facts, bundle_id=bundle_id
    )
    audit.record(
        session,
        actor=principal.username if principal else actor,
        action="export_fhir" if to_region else "read_person_fhir",
        entity="person",
        entity_id=person.id,
        detail={
            "to": to_region,
            "bundle_id": bundle_id,
            "consent_id": consent_facts.consent_id if consent_facts else None,
            "resources": len(bundle["entry"]),
        },
    )
    return bundle


def _no_consent_detail(session: Session, person_id: str, region: str, at: datetime) -> str:
    """Say why no consent covers the export, naming each recorded consent's problem."""
    reasons = [
        f"consent {c.id}: {why}"
        for c in person_consents(session, person_id)
        if (why := why_not_covered(c, purpose=CROSS_REGION_CONTINUITY, region=region, at=at))
    ]
    head = f"no active consent for {CROSS_REGION_CONTINUITY} covers region {region}"
    if not reasons:
        return f"{head}: the person has recorded none"
    return f"{head} ({'; '.join(reasons)})"


def _patient_facts(person: Person) -> PatientFacts:
    return PatientFacts(
        name=person.name,
        id_number=person.id_number,
        sex=person.sex,
        birth_date=person.birth_date,
        phone=person.phone,
        address=person.address,
        community_code=person.community_code,
    )


def _record_view(record: SourceRecord) -> RecordView:
    return RecordView(
        source=record.source,
        record_id=record.record_id,
        attributes=json.loads(record.attributes or "{}"),
        sensitive=json.loads(record.sensitive or "{}"),
    )


# --- import ------------------------------------------------------------------------------


def check_bundle_consent(
    parsed: ParsedBundle, *, region: str | None = None, at: datetime | None = None
) -> ConsentFacts:
    """The bundle's consent that permits this import; ConsentRequired (403) if none does.

    Valid means: about the bundle's Patient, status active, purpose cross_region_continuity,
    a period covering ``at`` and a grantee region that covers ``region`` (when the receiver
    states its region). The rule is the one exports apply (security.consent.why_not_covered).
    """
    at = as_utc(at or utcnow())
    if not parsed.consents:
        raise ConsentRequired(
            "the bundle carries no Consent resource: the origin must send the person's consent "
            f"for {CROSS_REGION_CONTINUITY} with the record",
            purpose=CROSS_REGION_CONTINUITY,
        )
    reasons = []
    for consent in parsed.consents:
        why = _bundle_consent_problem(consent, region, at)
        if why is None:
            return consent
        reasons.append(f"consent {consent.consent_id}: {why}")
    raise ConsentRequired(
        f"no consent in the bundle permits this import ({'; '.join(reasons)})",
        purpose=CROSS_REGION_CONTINUITY,
    )


def _bundle_consent_problem(consent: ConsentFacts, region: str | None, at: datetime) -> str | None:
    if not consent.for_bundle_patient:
        return "it names no patient"
    if consent.period_start is None or consent.period_end is None:
        return "it has no period with a start and an end"
    if not consent.grantee_region:
        return "it names no grantee region"
    terms = _Terms(
        purpose=consent.purpose,
        status=consent.status,
        grantee_region=consent.grantee_region,
        period_start=consent.period_start,
        period_end=consent.period_end,
    )
    return why_not_covered(terms, purpose=CROSS_REGION_CONTINUITY, region=region, at=at)


def import_bundle(
    session: Session,
    payload: Any,
    *,
    actor: str = "cli",
    region: str | None = None,
    at: datetime | None = None,
) -> ImportSummary:
    """Store a bundle from another node as ``exchange`` source records and link its person.

    Refuses (and stores nothing) when the bundle is not valid FHIR (InvalidBundle, 422) or
    carries no valid consent (ConsentRequired, 403). Records are keyed by origin node and
    resource id and compared by content, so importing the same bundle twice adds nothing and
    a later export of changed data updates in place. Provenance (origin node and region,
    bundle id, export time, the origin's source records) is kept on every record.
    """
    parsed = parse_bundle(payload)
    if region is not None and not is_region_code(region):
        raise InvalidRegion(f"region must be a 6-, 9- or 12-digit region code, got {region!r}")
    consent = check_bundle_consent(parsed, region=region, at=at)
    ensure_exchange_source(session)
    identity = _identity_values(parsed.history.patient)
    rows = [(_record_id(parsed, r), r) for r in parsed.resources]
    pks = [_pk(record_id) for record_id, _ in rows]
    existing = {rec.id: rec for rec in repository.records_by_pk(session, pks)}
    counts = {"new": 0, "updated": 0, "unchanged": 0}
    run: IngestRun | None = None
    now = utcnow()
    for pk, (record_id, resource) in zip(pks, rows, strict=True):
        raw = json.dumps(resource.resource, ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(raw.encode("utf-8")).hexdigest()
        record = existing.get(pk)
        if record is not None and record.row_hash == digest:
            counts["unchanged"] += 1
            continue
        if run is None:
            # A run is the log of what changed: a replay that changes nothing leaves none.
            run = IngestRun(
                id=new_id(),
                source=EXCHANGE_SOURCE,
                file_name=f"bundle {parsed.bundle_id}"[:255],
                file_sha256=_bundle_digest(payload),
                encoding="utf-8",
                started_by=actor,
            )
            session.add(run)
            session.flush()
        values = {
            "run_id": run.id,
            "row_hash": digest,
            "attributes": json.dumps(resource.attributes, ensure_ascii=False, sort_keys=True),
            "sensitive": json.dumps(resource.sensitive, ensure_ascii=False, sort_keys=True)
            if resource.sensitive
            else None,
            "raw": raw,
            "flags": "[]",
            "ingested_at": now,
            **identity,
        }
        if record is None:
            counts["new"] += 1
            session.add(SourceRecord(id=pk, source=EXCHANGE_SOURCE, record_id=record_id, **values))
        else:
            counts["updated"] += 1
            for key, value in values.items():
                setattr(record, key, value)
    session.flush()
    if run is not None:
        run.rows = run.accepted = len(rows)
        run.new, run.updated, run.unchanged = counts["new"], counts["updated"], counts["unchanged"]
        run.finished_at = utcnow()
    links = link_records(session, pks)
    patient_pk = pks[0]  # parse_bundle puts the Patient first
    summary = ImportSummary(
        bundle_id=parsed.bundle_id,
        origin_node=parsed.origin.node,
        origin_region=parsed.origin.region,
        consent_id=consent.consent_id,
        resources=len(rows),
        new=counts["new"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        ignored=len(parsed.ignored),
        person_id=links.get(patient_pk),
        linked=sum(1 for p in links.values() if p is not None),
        unlinked=sum(1 for p in links.values() if p is None),
        run_id=run.id if run else None,
    )
    audit.record(
        session,
        actor=actor,
        action="import_bundle",
        entity="bundle",
        entity_id=parsed.bundle_id[:64],
        detail={
            k: getattr(summary, k)
            for k in (
                "origin_node",
                "origin_region",
                "consent_id",
                "new",
                "updated",
                "unchanged",
                "person_id",
            )
        },
    )
    session.flush()
    return summary


def _record_id(parsed: ParsedBundle, resource: ImportedResource) -> str:
    # Keyed by where the resource was made, not by bundle: the same resource sent again in a
    # later bundle is the same record here.
    return stable_id("X", parsed.origin.node, resource.resource_type, resource.resource_id)


def _pk(record_id: str) -> str:
    # The primary-key rule ingest uses, so a record's key depends only on (source, record_id).
    return stable_id("R", EXCHANGE_SOURCE, record_id)[:32]


def _bundle_digest(payload: Any) -> str:
    if isinstance(payload, bytes | bytearray):
        data = bytes(payload)
    elif isinstance(payload, str):
        data = payload.encode("utf-8")
    else:
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def _identity_values(patient: PatientFacts) -> dict[str, Any]:
    """The Patient's identity in the canonical form ingest gives departmental rows.

    Every record of the bundle carries it, as every row of a departmental extract carries
    its person's identity, so any linker (exact ID today, probabilistic later) links them.
    """
    cipher = current_cipher()
    id_number = None
    if patient.id_number:
        id_number = unicodedata.normalize("NFKC", patient.id_number).strip().upper()
        id_number = id_number.replace(" ", "")
        if len(id_number) == 15 and id_number.isdigit():
            id_number = upgrade_15_to_18(id_number)
    phone = normalise_phone(patient.phone)[0] if patient.phone else None
    return {
        "name": normalise_name(patient.name) if patient.name else None,
        "id_number": id_number or None,
        "id_number_bidx": cipher.blind_index(id_number, "id_number") if id_number else None,
        "id_valid": bool(id_number and is_valid_id(id_number)),
        "sex": patient.sex,
        "birth_date": patient.birth_date,
        "phone": phone or None,
        "phone_bidx": cipher.blind_index(phone, "phone") if phone else None,
        "address": normalise_name(patient.address) if patient.address else None,
        # The origin's community code is not a place in this node's region tree: kept in the
        # Patient record's raw resource, not as community_code (jurisdiction and the map).
        "community_code": None,
    }


# --- reading what came in ----------------------------------------------------------------


# Attributes shown as the item's own fields rather than repeated inside its data.
_PROVENANCE_KEYS = frozenset(
    {"kind", "origin_node", "origin_region", "origin_record", "bundle_id", "exported_at"}
)


@dataclass(frozen=True)
class HistoryItem:
    """One imported resource as the destination shows it."""

    id: str
    kind: str
    origin_node: str | None
    origin_region: str | None
    origin_record: str | None
    bundle_id: str | None
    exported_at: str | None
    imported_at: datetime
    data: dict[str, Any]


def exchange_history(session: Session, principal: Principal, person_id: str) -> list[HistoryItem]:
    """What other regions sent about a person, with provenance (audited; 404 outside scope)."""
    person = visible_person(session, principal, person_id)
    items = []
    for record in repository.person_records(session, person.id):
        if record.source != EXCHANGE_SOURCE:
            continue
        attrs = json.loads(record.attributes or "{}")
        sensitive = json.loads(record.sensitive or "{}")
        data = {k: v for k, v in attrs.items() if k not in _PROVENANCE_KEYS} | sensitive
        items.append(
            HistoryItem(
                id=record.id,
                kind=attrs.get("kind", "unknown"),
                origin_node=attrs.get("origin_node"),
                origin_region=attrs.get("origin_region"),
                origin_record=attrs.get("origin_record"),
                bundle_id=attrs.get("bundle_id"),
                exported_at=attrs.get("exported_at"),
                imported_at=as_utc(record.ingested_at),
                data=data,
            )
        )
    audit.record(
        session,
        actor=principal.username,
        action="read_exchange_history",
        entity="person",
        entity_id=person.id,
        detail={"records": len(items)},
    )
    return items
