"""Tables of the cold chain (冷链): vaccine lots, the Merkle event log, its signed checkpoints,
temperature readings, alarms and the lots an excursion exposed.

The log is append-only and public: a leaf holds lot ids, places and times, never a person. Its
order is fixed by ``leaf_index``, handed out under a row lock on the one ``coldchain_log_head``
row (``UPDATE … RETURNING``, the pattern of the audit chain), so two concurrent appends never get
the same index and a rolled-back append leaves no gap. ``leaf`` keeps the exact canonical bytes
that were hashed; ``leaf_hash`` is the hash taken at append time, so that verification can name
the event whose bytes no longer hash to it. Verification recomputes every tree head from
``leaf``; the head signed at append comes from the head row's compact frontier.

Lots, alarms and exposures are scoped by the region code of the place that keeps them, copied
when the row is made, so jurisdiction needs no join.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

# What can happen to a lot. The first five are the steps of its path (R-VX-6); "suspect" is
# logged when an excursion exposed it and "recalled" when it is withdrawn.
EVENT_KINDS = (
    "received",
    "stored",
    "shipped",
    "administered",
    "discarded",
    "suspect",
    "recalled",
)
# Kinds after which the lot is at the event's location (its stay there begins).
MOVING_KINDS = ("received", "stored", "shipped")
# usable → suspect (an excursion exposed it) → recalled / discarded.
LOT_STATUSES = ("usable", "suspect", "recalled", "discarded")
ALARM_KINDS = ("heat", "freeze", "no_data")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class VaccineLot(Base):
    """A vaccine lot (批号): one manufacturer's production lot of one product, and where it is.

    ``product`` is a series code of the schedule (``HepB``, ``MMR`` …). ``vvm_stage`` is the
    vaccine vial monitor's stage (1–4; 3 and 4 mean discard). ``location_id`` is the fridge,
    transport box or site that holds it now, as the last moving event said.
    """

    __tablename__ = "vaccine_lots"
    __table_args__ = (
        UniqueConstraint("manufacturer", "lot_number"),
        CheckConstraint("vvm_stage BETWEEN 1 AND 4", name="vvm_stage"),
        CheckConstraint(_one_of("status", LOT_STATUSES), name="status"),
        Index("ix_vaccine_lots_region_code", "region_code"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    manufacturer: Mapped[str] = mapped_column(String(200))
    product: Mapped[str] = mapped_column(String(32))
    lot_number: Mapped[str] = mapped_column(String(64))
    expiry: Mapped[date] = mapped_column(Date)
    vvm_stage: Mapped[int] = mapped_column(Integer, default=1)
    location_id: Mapped[str | None] = mapped_column(String(64), default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    status: Mapped[str] = mapped_column(String(16), default="usable")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ColdChainLogHead(Base):
    """The one row (``id = 1``) whose lock serialises appends: ``size`` is the next leaf index.

    ``frontier`` holds the roots of the log's complete subtrees (``coldchain.frontier``), so an
    append signs the new head in O(log n) without reading the earlier leaves. Verification never
    trusts it: it recomputes every head from the stored leaf bytes.
    """

    __tablename__ = "coldchain_log_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(Integer, default=0)
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")


class ColdChainEvent(Base):
    """One event of the log (冷链事件), leaf ``leaf_index`` of the Merkle tree.

    ``leaf`` is canonical JSON (sorted keys, no whitespace, UTF-8) of the event; the columns
    beside it repeat what a query needs (lot, kind, place, time) and are checked against it.
    """

    __tablename__ = "coldchain_events"
    __table_args__ = (
        CheckConstraint(_one_of("kind", EVENT_KINDS), name="kind"),
        CheckConstraint("leaf_index >= 0", name="leaf_index_not_negative"),
        Index("ix_coldchain_events_lot_id_at", "lot_id", "at"),
        Index("ix_coldchain_events_location_id", "location_id"),
    )

    leaf_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    lot_id: Mapped[str] = mapped_column(ForeignKey("vaccine_lots.id"))
    location_id: Mapped[str | None] = mapped_column(String(64), default=None)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    leaf: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ColdChainCheckpoint(Base):
    """A signed tree head (签名检查点) of the log: a C2SP signed note, one per tree size."""

    __tablename__ = "coldchain_checkpoints"
    __table_args__ = (CheckConstraint("size >= 0", name="size_not_negative"),)

    size: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    root_hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TelemetryReading(Base):
    """One temperature reading of a fridge or transport box (温度记录); one per device and time."""

    __tablename__ = "coldchain_readings"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    celsius: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RejectedReading(Base):
    """A telemetry row that could not be used, kept with its reason.

    ``id`` is a hash of the source, line and raw text, so importing a file again keeps one row.
    """

    __tablename__ = "coldchain_rejected_readings"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    line: Mapped[int] = mapped_column(Integer)
    raw: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ColdChainAlarm(Base):
    """An alarm of a device (温度报警): heat, freeze or no data, from ``since``.

    Unique per device, kind and start, so re-importing readings or re-running the evaluation
    raises nothing twice; ``window_end`` is filled in when the excursion is seen to end.
    """

    __tablename__ = "coldchain_alarms"
    __table_args__ = (
        UniqueConstraint("device_id", "kind", "since"),
        CheckConstraint(_one_of("kind", ALARM_KINDS), name="kind"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raised_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    celsius: Mapped[float | None] = mapped_column(Float, default=None)
    window_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    extreme_c: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LotExposureRow(Base):
    """A lot that was inside a device during one of its excursions (the lot became suspect)."""

    __tablename__ = "coldchain_lot_exposures"

    lot_id: Mapped[str] = mapped_column(ForeignKey("vaccine_lots.id"), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(ForeignKey("coldchain_alarms.id"), primary_key=True)
    event_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
