"""Tables of the identity domain: sources, ingest runs, source records, quarantine, persons."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.security.crypto import EncryptedText


class Source(Base):
    """A department that sends extracts (公安, 医院, 医保, 人社, 免疫规划, 民政, 调查)."""

    __tablename__ = "sources"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))
    label_en: Mapped[str] = mapped_column(String(64))
    # Trust rank for survivorship: lower wins when two sources disagree on a field.
    trust: Mapped[int] = mapped_column(Integer, default=50)


class IngestRun(Base):
    """One `carematch ingest` of one file: what came in and what happened to it."""

    __tablename__ = "ingest_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    encoding: Mapped[str] = mapped_column(String(16))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    flagged: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    started_by: Mapped[str] = mapped_column(String(64), default="cli")


class SourceRecord(Base):
    """One row of a departmental extract: canonical identity fields plus the raw row.

    Identifying fields are encrypted; ``*_bidx`` columns are HMAC blind indexes for exact
    look-ups. ``attributes`` holds the source's ordinary columns, ``sensitive`` (encrypted) its
    health and welfare columns, ``flags`` the soft problems found at ingest.
    """

    __tablename__ = "source_records"
    __table_args__ = (
        UniqueConstraint("source", "record_id"),
        Index("ix_source_records_community", "community_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"))
    record_id: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    row_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    id_number: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    id_number_bidx: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    id_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)
    birth_date: Mapped[date | None] = mapped_column(Date, default=None)
    phone: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    phone_bidx: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    address: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    community_code: Mapped[str | None] = mapped_column(String(12), default=None)
    attributes: Mapped[str] = mapped_column(Text, default="{}")
    sensitive: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    raw: Mapped[str] = mapped_column(EncryptedText)
    flags: Mapped[str] = mapped_column(Text, default="[]")
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuarantinedRow(Base):
    """A row that could not be read, kept verbatim (encrypted) with every reason (隔离区)."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source", "raw_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(ForeignKey("sources.name"), index=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("ingest_runs.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    raw_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(EncryptedText)
    reasons: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Person(Base):
    """One resident (一人一档): the golden record built from linked source records."""

    __tablename__ = "persons"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    id_number: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    id_number_bidx: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    sex: Mapped[str | None] = mapped_column(String(1), default=None)
    birth_date: Mapped[date | None] = mapped_column(Date, default=None)
    phone: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    address: Mapped[str | None] = mapped_column(EncryptedText, default=None)
    community_code: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    hukou: Mapped[str | None] = mapped_column(String(16), default=None)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class PersonLink(Base):
    """Which person a source record belongs to, how sure we are and by which rule.

    ``evidence`` (JSON) holds the comparison levels and match weights of the strongest pair
    that joined the record to its person, so the workbench can show why.
    """

    __tablename__ = "person_links"

    record_pk: Mapped[str] = mapped_column(ForeignKey("source_records.id"), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("persons.id"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    probability: Mapped[float] = mapped_column(Float, default=1.0)
    match_weight: Mapped[float | None] = mapped_column(Float, default=None)
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    model_version: Mapped[str | None] = mapped_column(String(40), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)


class LinkageModel(Base):
    """A trained linkage model (Splink settings with m and u), versioned and reloaded."""

    __tablename__ = "linkage_models"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    settings_json: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="{}")
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class ReviewPair(Base):
    """A pair of records the model could not decide (between the two thresholds) (人工复核).

    A reviewer's decision (link or separate) is kept here, audited, and used as a label.
    """

    __tablename__ = "review_pairs"
    __table_args__ = (UniqueConstraint("record_pk_l", "record_pk_r"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    record_pk_l: Mapped[str] = mapped_column(ForeignKey("source_records.id"), index=True)
    record_pk_r: Mapped[str] = mapped_column(ForeignKey("source_records.id"), index=True)
    probability: Mapped[float] = mapped_column(Float)
    match_weight: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text, default="{}")
    community_code: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    # What the decision changed (records moved between persons), so that it can be undone.
    change: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LinkKey(Base):
    """A blocking key of a source record (HMAC of e.g. pinyin name + birth date).

    Lets a newly ingested record find its candidate matches by index look-up, without
    rerunning the whole linkage job; keyed, so no name or phone is stored in clear.
    """

    __tablename__ = "link_keys"

    record_pk: Mapped[str] = mapped_column(ForeignKey("source_records.id"), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class LinkTermFrequency(Base):
    """How common a value is (a shared household phone, a common name), for online scoring.

    Only values seen at least twice are kept; the value itself is stored as an HMAC.
    """

    __tablename__ = "link_term_frequencies"

    column: Mapped[str] = mapped_column(String(32), primary_key=True)
    value_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    frequency: Mapped[float] = mapped_column(Float)
