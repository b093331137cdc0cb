"""Use cases of the identity domain: ingest an extract, build persons, read a person.

Services flush; the caller (CLI command, endpoint, job) commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
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
from carematch.identity.models import (
    IngestRun,
    Person,
    PersonLink,
    QuarantinedRow,
    ReviewPair,
    SourceRecord,
)
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
    new_record_pks: list[str] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("new_record_pks")
        return out


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
    new_pks: list[str] = []
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
                    new_pks.append(values["id"])
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
        new_record_pks=new_pks,
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


_MODELS: dict[str, dict[str, Any]] = {}


def _model_of(active: Any) -> dict[str, Any]:
    """The parsed model of a stored version (parsed once per process: versions never change)."""
    if active.version not in _MODELS:
        _MODELS[active.version] = json.loads(active.settings_json)
    return _MODELS[active.version]


def link_records(session: Session, record_pks: list[str]) -> dict[str, str | None]:
    """Link newly stored source records to persons already known, without a full rerun.

    Returns record pk → person id (None when the record could not be linked). With a trained
    linkage model, each record is scored online against its candidates (see online.py).
    Before any model exists, a record joins the person holding the same valid ID number.
    """
    active = repository.active_model(session)
    if active is not None:
        from carematch.identity.online import link_one

        model = _model_of(active)
        return {
            record.id: link_one(session, record, model)
            for record in repository.records_by_pk(session, record_pks)
        }
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


# --- probabilistic persons -------------------------------------------------------------------

SEP = "\x1f"


def _uid(source: str, pk: str) -> str:
    return f"{source}{SEP}{pk}"


def build_persons(
    session: Session,
    *,
    retrain: bool = False,
    config: Any = None,
    actor: str = "cli",
) -> dict[str, Any]:
    """(Re)link every source record into persons with the probabilistic engine.

    The active linkage model is reused unless ``retrain`` (or there is none); reviewers'
    decisions constrain the clusters; person ids carry over from the previous run wherever a
    cluster keeps most of a person's records, so ids are stable across reruns.
    """
    import pandas as pd

    from carematch.identity.linkage import LinkageConfig, link_frames, model_json

    config = config or LinkageConfig()
    records = repository.all_records_for_linkage(session)
    if not records:
        return {"persons": 0, "records": 0}
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    meta: dict[str, Any] = {}
    for r in records:
        by_source[r.source].append(
            {
                "record_id": r.id,
                "name": r.name,
                "id_number": r.id_number,
                "sex": r.sex,
                "birth_date": r.birth_date.isoformat() if r.birth_date else None,
                "phone": r.phone,
                "address": r.address,
            }
        )
        meta[_uid(r.source, r.id)] = r
    frames = {s: pd.DataFrame(rows) for s, rows in by_source.items()}
    active = None if retrain else repository.active_model(session)
    must, cannot = repository.review_constraints(session)
    uid_of = {r.id: _uid(r.source, r.id) for r in records}
    result = link_frames(
        frames,
        model=json.loads(active.settings_json) if active else None,
        config=config,
        must_link=[(uid_of[a], uid_of[b]) for a, b in must if a in uid_of and b in uid_of],
        cannot_link=[(uid_of[a], uid_of[b]) for a, b in cannot if a in uid_of and b in uid_of],
    )
    if active is None:
        text = model_json(result.model)
        version = stable_id("M", text)[:21]
        repository.save_model(session, version, text, result.stats)
    else:
        version = active.version
    stats: dict[str, Any] = _write_persons(
        session, result, meta, version, repository.source_trust(session)
    )
    stats |= _write_review(session, result, meta)
    from carematch.identity.online import index_all

    assert result.prepared is not None
    stats |= index_all(session, result.prepared)
    stats["model_version"] = version
    stats["records"] = len(records)
    audit.record(
        session,
        actor=actor,
        action="build_persons",
        entity="linkage_model",
        entity_id=version,
        detail={k: v for k, v in stats.items() if isinstance(v, int | float | str)},
    )
    return stats


def _write_persons(
    session: Session, result: Any, meta: dict[str, Any], version: str, trust: dict[str, int]
) -> dict[str, int]:
    """Persons from clusters: carry old ids over, golden records by survivorship, links."""
    clusters = result.clusters
    previous = repository.current_links(session)  # record pk → person id
    members: dict[str, list[str]] = defaultdict(list)
    for uid, key in zip(clusters["unique_id"], clusters["person_key"], strict=True):
        members[key].append(uid)
    # Largest clusters choose first, so a split keeps the old id on its bigger part.
    order = sorted(members, key=lambda k: (-len(members[k]), min(members[k])))
    taken: set[str] = set()
    person_of: dict[str, str] = {}
    for key in order:
        votes: dict[str, int] = defaultdict(int)
        for uid in members[key]:
            old = previous.get(meta[uid].id)
            if old:
                votes[old] += 1
        choice = None
        for old, _ in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])):
            if old not in taken:
                choice = old
                break
        if choice is None:
            choice = stable_id("P", min(meta[u].id for u in members[key]))[:21]
        taken.add(choice)
        person_of[key] = choice

    from carematch.identity.linkage import evidence_of

    best: dict[str, tuple[float, int]] = {}
    key_of = dict(zip(clusters["unique_id"], clusters["person_key"], strict=True))
    for index, (left, right, prob) in enumerate(
        zip(
            result.pairs["unique_id_l"],
            result.pairs["unique_id_r"],
            result.pairs["match_probability"],
            strict=True,
        )
    ):
        if key_of[left] != key_of[right]:
            continue
        for uid in (left, right):
            if uid not in best or prob > best[uid][0]:
                best[uid] = (float(prob), index)

    existing = set(session.scalars(select(Person.id)))
    session.execute(delete(PersonLink))
    now = utcnow()
    persons: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for key, uids in members.items():
        person_id = person_of[key]
        recs = [meta[u] for u in uids]
        persons.append(_golden(person_id, recs, now, trust))
        for uid in uids:
            prob, index = best.get(uid, (1.0, -1))
            evidence = evidence_of(result.pairs, index) if index >= 0 else {}
            links.append(
                {
                    "record_pk": meta[uid].id,
                    "person_id": person_id,
                    "method": "splink" if len(uids) > 1 else "singleton",
                    "probability": prob,
                    "evidence": json.dumps(evidence, ensure_ascii=False),
                    "model_version": version,
                }
            )
    new = [p for p in persons if p["id"] not in existing]
    kept = [p for p in persons if p["id"] in existing]
    for i in range(0, len(new), BATCH):
        session.execute(insert(Person), new[i : i + BATCH])
    for i in range(0, len(kept), BATCH):
        session.execute(update(Person), kept[i : i + BATCH])
    for i in range(0, len(links), BATCH):
        session.execute(insert(PersonLink), links[i : i + BATCH])
    gone = existing - {p["id"] for p in persons}
    if gone:
        repository.delete_persons(session, gone)
    session.flush()
    return {"persons": len(persons), "new_persons": len(new), "removed_persons": len(gone)}


def _golden(person_id: str, recs: list[Any], now: Any, trust: dict[str, int]) -> dict[str, Any]:
    """Survivorship: trusted source per field, a valid ID first, the newest contact data."""
    by_trust = sorted(recs, key=lambda r: (trust.get(r.source, 100), r.id))
    newest = sorted(recs, key=lambda r: (r.ingested_at, r.id), reverse=True)
    valid = [r for r in by_trust if r.id_valid]
    id_source = valid or by_trust
    return {
        "id": person_id,
        "name": _first(r.name for r in by_trust),
        "id_number": _first(r.id_number for r in id_source),
        "id_number_bidx": _first(r.id_number_bidx for r in id_source),
        "sex": _first(r.sex for r in id_source),
        "birth_date": _first(r.birth_date for r in id_source),
        "phone": _first(r.phone for r in newest),
        "address": _first(r.address for r in newest),
        "community_code": _first(r.community_code for r in by_trust),
        "hukou": _first(json.loads(r.attributes or "{}").get("hukou") for r in by_trust),
        "record_count": len(recs),
        "updated_at": now,
    }


def _write_review(session: Session, result: Any, meta: dict[str, Any]) -> dict[str, int]:
    """Open review pairs for unsure pairs between different persons (decided ones are kept)."""
    from carematch.identity.linkage import evidence_of

    known = repository.review_pair_keys(session)
    rows = []
    for index, (left, right, prob, weight) in enumerate(
        zip(
            result.review["unique_id_l"],
            result.review["unique_id_r"],
            result.review["match_probability"],
            result.review["match_weight"],
            strict=True,
        )
    ):
        evidence = evidence_of(result.review, index)
        a, b = sorted((meta[left].id, meta[right].id))
        if (a, b) in known:
            continue
        known.add((a, b))
        rows.append(
            {
                "id": stable_id("V", a, b)[:32],
                "record_pk_l": a,
                "record_pk_r": b,
                "probability": float(prob),
                "match_weight": float(weight),
                "evidence": json.dumps(evidence, ensure_ascii=False),
                "community_code": meta[left].community_code or meta[right].community_code,
                "status": "open",
            }
        )
    for i in range(0, len(rows), BATCH):
        session.execute(insert(ReviewPair), rows[i : i + BATCH])
    session.flush()
    return {"review_opened": len(rows)}


def refresh_persons(session: Session, person_ids: set[str]) -> None:
    """Recompute the golden record and record count of persons whose records changed.

    Used after a review decision or an online link moves records between persons.
    """
    trust = repository.source_trust(session)
    for person_id in sorted(person_ids):
        pks = list(
            session.scalars(select(PersonLink.record_pk).where(PersonLink.person_id == person_id))
        )
        recs = list(session.scalars(select(SourceRecord).where(SourceRecord.id.in_(pks))))
        person = session.get(Person, person_id)
        if not recs:
            if person is not None:
                person.record_count = 0
            continue
        values = _golden(person_id, recs, utcnow(), trust)
        if person is None:
            session.add(Person(**values))
        else:
            for key, value in values.items():
                setattr(person, key, value)
    session.flush()


@dataclass(frozen=True)
class LinkedRecord:
    """A source record's own columns (ordinary and sensitive, decrypted) and its person."""

    person_id: str
    source: str
    record_id: str
    values: dict[str, Any]


def linked_records(
    session: Session,
    person_ids: list[str] | None = None,
    sources: Sequence[str] | None = None,
) -> Iterator[LinkedRecord]:
    """Every linked record's source columns, for the profiling pipeline (decrypted here).

    Args:
        person_ids: only these persons' records (the online path); all when None.
        sources: only these sources' records; all when None.
    """
    for person_id, source, record_id, attributes, sensitive in repository.linked_record_rows(
        session, person_ids, sources
    ):
        values = json.loads(attributes or "{}")
        if sensitive:
            values.update(json.loads(sensitive))
        yield LinkedRecord(person_id, source, record_id, values)


def golden_records(
    session: Session, person_ids: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Persons' golden fields the profiling pipeline starts from (no identifying field)."""
    for person_id, sex, birth_date, community_code, hukou in repository.golden_rows(
        session, person_ids
    ):
        yield {
            "person_id": person_id,
            "sex": sex,
            "birth_date": birth_date,
            "community_code": community_code,
            "hukou": hukou,
        }


def persons_with_attribute(session: Session, source: str, key: str, values: set[str]) -> set[str]:
    """Persons whose records from ``source`` carry one of ``values`` in an ordinary column.

    E.g. the members of registered households: ``("poverty", "household_id", {...})``. Reads
    only that source's plain attributes, never the encrypted ones.
    """
    if source not in SOURCES or SOURCES[source].column(key) is None:
        raise UnknownSource(f"{source} has no column {key!r}")
    if SOURCES[source].column(key).sensitive:  # type: ignore[union-attr]
        raise ValueError(f"{source}.{key} is encrypted: it cannot be looked up by value")
    found: set[str] = set()
    for person_id, attributes in repository.source_attribute_rows(session, source):
        if json.loads(attributes or "{}").get(key) in values:
            found.add(person_id)
    return found
