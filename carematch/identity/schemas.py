"""API shapes of the identity domain."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from carematch.identity.models import IngestRun, Person, QuarantinedRow, SourceRecord


def mask_name(name: str | None) -> str | None:
    """张三丰 → 张*丰; list views never show a full name."""
    if not name:
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id(id_number: str | None) -> str | None:
    """Keep the region prefix and the last two characters: 449901********12."""
    if not id_number:
        return id_number
    return id_number[:6] + "*" * (len(id_number) - 8) + id_number[-2:]


def mask_phone(phone: str | None) -> str | None:
    if not phone or len(phone) < 7:
        return phone
    return phone[:3] + "****" + phone[-4:]


class PersonSummary(BaseModel):
    """A person in a list: identifiers masked."""

    id: str
    name: str | None
    sex: str | None
    birth_year: int | None
    community_code: str | None
    hukou: str | None
    record_count: int

    @classmethod
    def of(cls, p: Person) -> PersonSummary:
        return cls(
            id=p.id,
            name=mask_name(p.name),
            sex=p.sex,
            birth_year=p.birth_date.year if p.birth_date else None,
            community_code=p.community_code,
            hukou=p.hukou,
            record_count=p.record_count,
        )


class PersonsPublic(BaseModel):
    items: list[PersonSummary]
    total: int
    limit: int
    offset: int


class SourceRecordPublic(BaseModel):
    """One contributing source record, identifiers in full (the read is audited)."""

    id: str
    source: str
    record_id: str
    name: str | None
    id_number: str | None
    id_valid: bool
    sex: str | None
    birth_date: date | None
    phone: str | None
    address: str | None
    community_code: str | None
    attributes: dict[str, Any]
    sensitive: dict[str, Any]
    flags: list[dict[str, Any]]

    @classmethod
    def of(cls, r: SourceRecord) -> SourceRecordPublic:
        return cls(
            id=r.id,
            source=r.source,
            record_id=r.record_id,
            name=r.name,
            id_number=r.id_number,
            id_valid=r.id_valid,
            sex=r.sex,
            birth_date=r.birth_date,
            phone=r.phone,
            address=r.address,
            community_code=r.community_code,
            attributes=json.loads(r.attributes or "{}"),
            sensitive=json.loads(r.sensitive or "{}"),
            flags=json.loads(r.flags or "[]"),
        )


class PersonDetail(BaseModel):
    """A person's golden record with its source records."""

    id: str
    name: str | None
    id_number: str | None
    sex: str | None
    birth_date: date | None
    phone: str | None
    address: str | None
    community_code: str | None
    hukou: str | None
    records: list[SourceRecordPublic]


class RecordsPublic(BaseModel):
    items: list[SourceRecordPublic]
    total: int
    limit: int
    offset: int


class IngestRunPublic(BaseModel):
    id: str
    source: str
    file_name: str
    file_sha256: str
    encoding: str
    rows: int
    accepted: int
    quarantined: int
    new: int
    updated: int
    unchanged: int
    flagged: int
    started_at: datetime
    finished_at: datetime | None
    started_by: str

    @classmethod
    def of(cls, r: IngestRun) -> IngestRunPublic:
        return cls.model_validate(r, from_attributes=True)


class IngestRunsPublic(BaseModel):
    items: list[IngestRunPublic]
    total: int
    limit: int
    offset: int


class QuarantinedRowPublic(BaseModel):
    id: str
    line: int
    raw: str
    reasons: list[dict[str, Any]]

    @classmethod
    def of(cls, q: QuarantinedRow) -> QuarantinedRowPublic:
        return cls(id=q.id, line=q.line, raw=q.raw, reasons=json.loads(q.reasons))


class QuarantinePublic(BaseModel):
    items: list[QuarantinedRowPublic]
    limit: int
    offset: int
