"""Every query of the identity domain."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Select, case, delete, func, select, update
from sqlalchemy.orm import Session

from carematch.identity.models import (
    IngestRun,
    LinkageModel,
    Person,
    PersonLink,
    QuarantinedRow,
    ReviewPair,
    Source,
    SourceRecord,
)
from carematch.security.jurisdiction import region_prefix


def ensure_sources(session: Session, rows: Sequence[tuple[str, str, str, int]]) -> None:
    """Insert any source that is not yet in the table."""
    known = set(session.scalars(select(Source.name)))
    for name, label, label_en, trust in rows:
        if name not in known:
            session.add(Source(name=name, label=label, label_en=label_en, trust=trust))
    session.flush()


def record_hashes(session: Session, source: str) -> dict[str, tuple[str, str]]:
    """record_id → (primary key, row hash) for every stored record of a source."""
    rows = session.execute(
        select(SourceRecord.record_id, SourceRecord.id, SourceRecord.row_hash).where(
            SourceRecord.source == source
        )
    )
    return {record_id: (pk, digest) for record_id, pk, digest in rows}


def quarantine_hashes(session: Session, source: str) -> set[str]:
    """Hashes of the rows already quarantined for a source."""
    return set(
        session.scalars(select(QuarantinedRow.raw_hash).where(QuarantinedRow.source == source))
    )


def _scoped(stmt: Select, column: object, jurisdiction: str | None) -> Select:
    if jurisdiction is None:
        return stmt
    return stmt.where(column.like(region_prefix(jurisdiction) + "%"))  # type: ignore[attr-defined]


def list_persons(
    session: Session, jurisdiction: str | None, limit: int, offset: int
) -> tuple[int, list[Person]]:
    """Persons inside a jurisdiction (None = all), ordered by id, with the total count."""
    # Persons emptied by a review decision are kept (the decision can be undone) but not listed.
    base = _scoped(
        select(Person).where(Person.record_count > 0), Person.community_code, jurisdiction
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    items = session.scalars(base.order_by(Person.id).limit(limit).offset(offset)).all()
    return total, list(items)


def get_person(session: Session, person_id: str) -> Person | None:
    return session.get(Person, person_id)


def person_records(session: Session, person_id: str) -> list[SourceRecord]:
    """The source records linked to a person."""
    stmt = (
        select(SourceRecord)
        .join(PersonLink, PersonLink.record_pk == SourceRecord.id)
        .where(PersonLink.person_id == person_id)
        .order_by(SourceRecord.source, SourceRecord.record_id)
    )
    return list(session.scalars(stmt))


def list_runs(session: Session, limit: int, offset: int) -> tuple[int, list[IngestRun]]:
    total = session.scalar(select(func.count()).select_from(IngestRun)) or 0
    items = session.scalars(
        select(IngestRun)
        .order_by(IngestRun.started_at.desc(), IngestRun.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return total, list(items)


def get_run(session: Session, run_id: str) -> IngestRun | None:
    return session.get(IngestRun, run_id)


def run_quarantine(session: Session, run_id: str, limit: int, offset: int) -> list[QuarantinedRow]:
    return list(
        session.scalars(
            select(QuarantinedRow)
            .where(QuarantinedRow.run_id == run_id)
            .order_by(QuarantinedRow.line)
            .limit(limit)
            .offset(offset)
        )
    )


def quarantine_for_source(session: Session, source: str) -> list[QuarantinedRow]:
    return list(
        session.scalars(
            select(QuarantinedRow)
            .where(QuarantinedRow.source == source)
            .order_by(QuarantinedRow.line)
        )
    )


def linkable_records(session: Session) -> list[Any]:
    """Fields the exact-ID linker needs, for every record with a valid ID number."""
    return list(
        session.execute(
            select(
                SourceRecord.id,
                SourceRecord.source,
                SourceRecord.id_number_bidx,
                SourceRecord.community_code,
                SourceRecord.sex,
                SourceRecord.birth_date,
                SourceRecord.attributes,
                Source.trust,
                SourceRecord.ingested_at,
            )
            .join(Source, Source.name == SourceRecord.source)
            .where(SourceRecord.id_valid.is_(True))
        )
    )


def records_by_pk(session: Session, pks: Sequence[str]) -> list[SourceRecord]:
    return list(session.scalars(select(SourceRecord).where(SourceRecord.id.in_(pks))))


def counts_by_district(session: Session, jurisdiction: str | None) -> dict[str, dict[str, int]]:
    """Persons, migrants and source records per district code (first 6 digits)."""
    out: dict[str, dict[str, int]] = {}
    district = func.substr(Person.community_code, 1, 6)
    stmt = _scoped(
        select(
            district,
            func.count(),
            func.sum(case((Person.hukou == "migrant", 1), else_=0)),
        )
        .where(Person.record_count > 0)
        .group_by(district),
        Person.community_code,
        jurisdiction,
    )
    for code, persons, migrants in session.execute(stmt):
        if code:
            out.setdefault(code, {"persons": 0, "migrants": 0, "records": 0})
            out[code]["persons"] = int(persons)
            out[code]["migrants"] = int(migrants or 0)
    rdistrict = func.substr(SourceRecord.community_code, 1, 6)
    rstmt = _scoped(
        select(rdistrict, func.count()).group_by(rdistrict),
        SourceRecord.community_code,
        jurisdiction,
    )
    for code, records in session.execute(rstmt):
        if code:
            out.setdefault(code, {"persons": 0, "migrants": 0, "records": 0})
            out[code]["records"] = int(records)
    return out


def search_persons_by_id_bidx(session: Session, bidx: str) -> list[Person]:
    return list(session.scalars(select(Person).where(Person.id_number_bidx == bidx)))


def all_records_for_linkage(session: Session) -> list[SourceRecord]:
    """Every source record (identifiers decrypted on load), ordered for reproducibility."""
    return list(
        session.scalars(select(SourceRecord).order_by(SourceRecord.source, SourceRecord.id))
    )


def source_trust(session: Session) -> dict[str, int]:
    """Source name → trust rank (lower is more trusted)."""
    return dict(session.execute(select(Source.name, Source.trust)).all())


def active_model(session: Session) -> LinkageModel | None:
    return session.scalar(select(LinkageModel).where(LinkageModel.active.is_(True)))


def save_model(session: Session, version: str, settings_json: str, summary: dict) -> None:
    """Store a trained model and make it the active one."""
    session.execute(update(LinkageModel).values(active=False))
    existing = session.get(LinkageModel, version)
    if existing is None:
        session.add(
            LinkageModel(
                version=version,
                settings_json=settings_json,
                summary=json.dumps(summary, ensure_ascii=False, default=str),
                active=True,
            )
        )
    else:
        existing.active = True
    session.flush()


def review_constraints(session: Session) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(linked pairs, separated pairs) that reviewers decided."""
    rows = session.execute(
        select(ReviewPair.record_pk_l, ReviewPair.record_pk_r, ReviewPair.status).where(
            ReviewPair.status.in_(("linked", "separated"))
        )
    )
    must: list[tuple[str, str]] = []
    cannot: list[tuple[str, str]] = []
    for left, right, status in rows:
        (must if status == "linked" else cannot).append((left, right))
    return must, cannot


def current_links(session: Session) -> dict[str, str]:
    """Record pk → person id as linked now."""
    return dict(session.execute(select(PersonLink.record_pk, PersonLink.person_id)).all())


def review_pair_keys(session: Session) -> set[tuple[str, str]]:
    return set(session.execute(select(ReviewPair.record_pk_l, ReviewPair.record_pk_r)).all())


def delete_persons(session: Session, person_ids: set[str]) -> int:
    """Delete persons no longer holding records; one still referenced elsewhere is kept empty."""
    from sqlalchemy.exc import IntegrityError

    deleted = 0
    for person_id in sorted(person_ids):
        try:
            with session.begin_nested():
                session.execute(delete(Person).where(Person.id == person_id))
            deleted += 1
        except IntegrityError:
            session.execute(update(Person).where(Person.id == person_id).values(record_count=0))
    return deleted


def linked_record_rows(
    session: Session,
    person_ids: list[str] | None = None,
    sources: Sequence[str] | None = None,
) -> Iterator[Any]:
    """(person_id, source, record_id, attributes, sensitive) of every linked record.

    Streams in batches so a city's records never sit in memory as ORM objects. ``sources``
    keeps only those sources' records (the relief watch reads three of them).
    """
    query = (
        select(
            PersonLink.person_id,
            SourceRecord.source,
            SourceRecord.record_id,
            SourceRecord.attributes,
            SourceRecord.sensitive,
        )
        .join(PersonLink, PersonLink.record_pk == SourceRecord.id)
        .order_by(PersonLink.person_id, SourceRecord.source, SourceRecord.record_id)
        .execution_options(yield_per=5_000)
    )
    if person_ids is not None:
        query = query.where(PersonLink.person_id.in_(person_ids))
    if sources is not None:
        query = query.where(SourceRecord.source.in_(list(sources)))
    yield from session.execute(query)


def golden_rows(session: Session, person_ids: list[str] | None = None) -> Iterator[Any]:
    """(id, sex, birth_date, community_code, hukou) of persons (all, or the given ones)."""
    query = (
        select(Person.id, Person.sex, Person.birth_date, Person.community_code, Person.hukou)
        .order_by(Person.id)
        .execution_options(yield_per=10_000)
    )
    if person_ids is not None:
        query = query.where(Person.id.in_(person_ids))
    yield from session.execute(query)


def source_attribute_rows(session: Session, source: str) -> Iterator[Any]:
    """(person_id, attributes JSON) of one source's linked records (no decryption needed)."""
    query = (
        select(PersonLink.person_id, SourceRecord.attributes)
        .join(PersonLink, PersonLink.record_pk == SourceRecord.id)
        .where(SourceRecord.source == source)
        .execution_options(yield_per=10_000)
    )
    yield from session.execute(query)
