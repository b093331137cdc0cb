"""Use cases of the identity domain: ingest an extract, build persons, read a person.

Services flush; the caller (CLI command, endpoint, job) commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.ids import new_id, stable_id
from carematch.identity import repository
from carematch.identity.errors import IngestRejected, PersonNotFound, UnknownSource
from carematch.identity.ingest import IngestFileError, read_table, row_hash, validate_row
from carematch.identity.models import IngestRun, Person, PersonLink, QuarantinedRow, SourceRecord
from carematch.identity.sources import SOURCES, get_source
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.crypto import current_cipher

BATCH = 2_000
Progress = Callable[[int], None]


@dataclass
class IngestSummary:
    """What one ingest did; ``rows == accepted + quarantined`` always."""

    source: str
    rows: int
    accepted: int
    quarantined: int
    new: int
    updated: int
    unchanged: int
    flagged: int
    blank_lines: int
    encoding: str
    run_id: str
    file_sha256: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_sources(session: Session) -> None:
    """Register every known source (idempotent)."""
    repository.ensure_sources(
        session, [(s.name, s.label, s.label_en, s.trust) for s in SOURCES.values()]
    )


def ingest_file(
    session: Session,
    source: str,
    path: Path,
    *,
    actor: str = "cli",
    progress: Progress | None = None,
    today: date | None = None,
) -> IngestSummary:
    """Validate every row of an extract and store it; bad rows go to quarantine verbatim.

    Re-ingesting the same file adds nothing: rows are keyed by (source, record_id) and compared
    by content hash; a changed row is updated in place.
    """
    try:
        schema = get_source(source)
    except KeyError as exc:
        raise UnknownSource(str(exc.args[0])) from None
    try:
        parsed = read_table(path)
    except (IngestFileError, OSError) as exc:
        raise IngestRejected(str(exc)) from None
    ensure_sources(session)
    cipher = current_cipher()
    existing = repository.record_hashes(session, source)
    quarantined_before = repository.quarantine_hashes(session, source)
    run = IngestRun(
        id=new_id(),
        source=source,
        file_name=path.name,
        file_sha256=parsed.sha256,
        encoding=parsed.encoding,
        started_by=actor,
    )
    session.add(run)
    session.flush()

    counts: dict[str, int] = defaultdict(int)
    seen: dict[str, str] = {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []

    def flush() -> None:
        if inserts:
            session.execute(insert(SourceRecord), inserts)
            inserts.clear()
        if updates:
            session.execute(update(SourceRecord), updates)
            updates.clear()
        if quarantine:
            session.execute(insert(QuarantinedRow), quarantine)
            quarantine.clear()

    for row in parsed.rows:
        counts["rows"] += 1
        result = validate_row(schema, parsed.header, row, today=today)
        digest = row_hash(row.text)
        if not result.errors and result.record_id in seen:
            same = seen[result.record_id] == digest
            code = "duplicate_row" if same else "duplicate_record_id"
            result.errors.append(
                {"code": code, "message": f"record_id {result.record_id} appears earlier in file"}
            )
        if result.errors:
            counts["quarantined"] += 1
            qhash = row_hash(f"{row.line}\x1f{row.text}")
            if qhash not in quarantined_before:
                quarantined_before.add(qhash)
                quarantine.append(
                    {
                        "id": new_id(),
                        "source": source,
                        "run_id": run.id,
                        "line": row.line,
                        "raw_hash": qhash,
                        "raw": row.text,
                        "reasons": json.dumps(result.errors, ensure_ascii=False),
                    }
                )
        else:
            assert result.record_id is not None
            seen[result.record_id] = digest
            counts["accepted"] += 1
            if result.flags:
                counts["flagged"] += 1
            previous = existing.get(result.record_id)
            if previous and previous[1] == digest:
                counts["unchanged"] += 1
            else:
                values = _record_values(source, run.id, digest, row.text, result, cipher)
                if previous:
                    counts["updated"] += 1
                    updates.append(values)
                else:
                    counts["new"] += 1
                    inserts.append(values)
        if len(inserts) + len(updates) + len(quarantine) >= BATCH:
            flush()
        if progress and counts["rows"] % 1000 == 0:
            progress(1000)
    flush()
    if progress:
        progress(counts["rows"] % 1000)

    for key in ("rows", "accepted", "quarantined", "new", "updated", "unchanged", "flagged"):
        setattr(run, key, counts[key])
    run.finished_at = utcnow()
    audit.record(
        session,
        actor=actor,
        action="ingest",
        entity="ingest_run",
        entity_id=run.id,
        detail={k: counts[k] for k in ("rows", "accepted", "quarantined")} | {"source": source},
    )
    session.flush()
    return IngestSummary(
        source=source,
        rows=counts["rows"],
        accepted=counts["accepted"],
        quarantined=counts["quarantined"],
        new=counts["new"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        flagged=counts["flagged"],
        blank_lines=len(parsed.blank_lines),
        encoding=parsed.encoding,
        run_id=run.id,
        file_sha256=parsed.sha256,
    )


def _record_values(
    source: str, run_id: str, digest: str, text: str, result: Any, cipher: Any
) -> dict[str, Any]:
    canonical = result.canonical
    id_number = canonical.get("id_number")
    phone = canonical.get("phone")
    return {
        "id": stable_id("R", source, result.record_id)[:32],
        "source": source,
        "record_id": result.record_id,
        "run_id": run_id,
        "row_hash": digest,
        "name": canonical.get("name"),
        "id_number": id_number,
        "id_number_bidx": cipher.blind_index(id_number, "id_number") if id_number else None,
        "id_valid": bool(canonical.get("id_valid")),
        "sex": canonical.get("sex"),
        "birth_date": canonical.get("birth_date"),
        "phone": phone,
        "phone_bidx": cipher.blind_index(phone, "phone") if phone else None,
        "address": canonical.get("address"),
        "community_code": canonical.get("community_code"),
        "attributes": json.dumps(result.attributes, ensure_ascii=False, sort_keys=True),
        "sensitive": json.dumps(result.sensitive, ensure_ascii=False, sort_keys=True)
        if result.sensitive
        else None,
        "raw": text,
        "flags": json.dumps(result.flags, ensure_ascii=False),
        "ingested_at": utcnow(),
    }


def build_persons_exact(session: Session) -> dict[str, int]:
    """Group records that share a valid ID number into persons (deterministic linkage).

    This is the baseline linker: exact on a GB 11643-valid ID number, so it never merges two
    people, but it leaves records without a valid ID unlinked. Probabilistic linkage (Splink)
    replaces it. Person ids are derived from the ID number's blind index, so reruns agree.
    """
    groups: dict[str, list[Any]] = defaultdict(list)
    for row in repository.linkable_records(session):
        groups[row.id_number_bidx].append(row)
    existing = set(session.scalars(select(Person.id)))
    pks_all = [r.id for rows in groups.values() for r in rows]
    full: dict[str, SourceRecord] = {}
    for i in range(0, len(pks_all), 5_000):
        for rec in repository.records_by_pk(session, pks_all[i : i + 5_000]):
            full[rec.id] = rec
    session.execute(delete(PersonLink).where(PersonLink.method == "exact_id"))
    new_rows: list[dict[str, Any]] = []
    upd_rows: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    now = utcnow()
    for bidx, rows in groups.items():
        person_id = stable_id("P", bidx)[:21]
        # Survivorship: most trusted source first, then the most recently ingested.
        ordered = sorted(rows, key=lambda r: (r.trust, -r.ingested_at.timestamp()))
        recs = [full[r.id] for r in ordered]
        values = {
            "id": person_id,
            "name": _first(r.name for r in recs),
            "id_number": _first(r.id_number for r in recs),
            "id_number_bidx": bidx,
            "sex": _first(r.sex for r in recs),
            "birth_date": _first(r.birth_date for r in recs),
            "phone": _first(
                r.phone for r in sorted(recs, key=lambda r: r.ingested_at, reverse=True)
            ),
            "address": _first(r.address for r in recs),
            "community_code": _first(r.community_code for r in recs),
            "hukou": _first(json.loads(r.attributes).get("hukou") for r in recs),
            "record_count": len(recs),
            "updated_at": now,
        }
        (upd_rows if person_id in existing else new_rows).append(values)
        links.extend(
            {"record_pk": r.id, "person_id": person_id, "method": "exact_id", "probability": 1.0}
            for r in recs
        )
    for i in range(0, len(new_rows), BATCH):
        session.execute(insert(Person), new_rows[i : i + BATCH])
    for i in range(0, len(upd_rows), BATCH):
        session.execute(update(Person), upd_rows[i : i + BATCH])
    for i in range(0, len(links), BATCH):
        session.execute(insert(PersonLink), links[i : i + BATCH])
    session.flush()
    return {"persons": len(groups), "new": len(new_rows), "links": len(links)}


def _first(values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def visible_person(session: Session, principal: Principal, person_id: str) -> Person:
    """A person the principal may see; 404 (not 403) outside the jurisdiction, so that the
    existence of a record in another district is not revealed."""
    person = repository.get_person(session, person_id)
    if person is None or not principal.can_see(person.community_code):
        raise PersonNotFound(f"no person {person_id}")
    return person


def read_person(session: Session, principal: Principal, person_id: str) -> tuple[Person, list]:
    """A person's golden record and source records; the read is audited."""
    person = visible_person(session, principal, person_id)
    records = repository.person_records(session, person_id)
    audit.record(
        session,
        actor=principal.username,
        action="read_person",
        entity="person",
        entity_id=person_id,
        detail={"records": len(records)},
    )
    return person, records


def link_records(session: Session, record_pks: list[str]) -> dict[str, str | None]:
    """Link newly stored source records to persons already known, without a full rerun.

    Returns record pk → person id (None when the record could not be linked). A record is
    attached to the person holding the same valid ID number; with none, a new person is made
    from it. Records without a valid ID stay unlinked here (the probabilistic linker decides).
    """
    result: dict[str, str | None] = {}
    for record in repository.records_by_pk(session, record_pks):
        if not record.id_valid or not record.id_number_bidx:
            result[record.id] = None
            continue
        person_id = stable_id("P", record.id_number_bidx)[:21]
        person = session.get(Person, person_id)
        if person is None:
            person = Person(
                id=person_id,
                name=record.name,
                id_number=record.id_number,
                id_number_bidx=record.id_number_bidx,
                sex=record.sex,
                birth_date=record.birth_date,
                phone=record.phone,
                address=record.address,
                community_code=record.community_code,
                hukou=json.loads(record.attributes or "{}").get("hukou"),
                record_count=0,
            )
            session.add(person)
            session.flush()
        if session.get(PersonLink, record.id) is None:
            session.add(
                PersonLink(
                    record_pk=record.id,
                    person_id=person_id,
                    method="exact_id",
                    probability=1.0,
                    evidence=json.dumps({"rule": "same valid ID number"}),
                )
            )
            person.record_count += 1
        result[record.id] = person_id
    session.flush()
    return result
