"""Tables of the provider registry (资源清单): providers, their services, hours and van stops.

The registry is public information (R-SP-2: residents look it up by scanning a code), so rows
are stored in clear, unlike the identity domain's encrypted fields.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base


class Provider(Base):
    """A health-service provider (机构): hospital, health centre, clinic, station, NGO or van.

    The id is the registry's own provider id (``PRV0001``), so files and APIs name the same
    provider the same way. Languages and capabilities are ``;``-separated codes.
    A van's ``lat``/``lon`` is its base; it serves at its :class:`VanStop` rows instead of hours.
    """

    __tablename__ = "providers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(32), index=True)
    ownership: Mapped[str | None] = mapped_column(String(32), default=None)
    # The most specific region known (community, else street or district). A plain code, as in
    # identity, so a registry can be imported before the region tree; jurisdiction is a prefix.
    region_code: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    # The hours as written (OpenStreetMap syntax), for display; ProviderHours is the parsed form.
    opening_hours: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[str] = mapped_column(String(200), default="")
    capabilities: Mapped[str] = mapped_column(String(500), default="")
    # The provider it belongs to (医共体: village clinic → township hospital); may name a
    # provider not imported yet, so it is a reference, not a foreign key.
    parent_id: Mapped[str | None] = mapped_column(String(32), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Bumped whenever the provider, its services, hours or stops change: the service map's
    # cache key.
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderService(Base):
    """A service a provider offers, on its terms: price, insured share, capacity, wait.

    ``service_code`` is a code of the service catalogue (carematch/data/services.yaml).
    ``wait_days`` is the provider's own estimate of days to the first free slot (0: same day),
    the basis of "earliest free slot" until bookings record real slots.
    """

    __tablename__ = "provider_services"

    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    service_code: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    daily_capacity: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    insured_share: Mapped[Decimal] = mapped_column(Numeric(4, 3), default=Decimal(0))
    wait_days: Mapped[int] = mapped_column(Integer, default=0)


class ProviderHours(Base):
    """One opening range of a provider on one weekday (1 = Monday); ``closes`` may be 24:00.

    A range that runs past midnight is stored as two rows, one per day.
    """

    __tablename__ = "provider_hours"

    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)
    opens: Mapped[str] = mapped_column(String(5), primary_key=True)
    closes: Mapped[str] = mapped_column(String(5))


class VanStop(Base):
    """A weekly stop of a mobile service van (流动服务车): where it parks, which day, when."""

    __tablename__ = "van_stops"

    provider_id: Mapped[str] = mapped_column(ForeignKey("providers.id"), primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer, primary_key=True)
    start_time: Mapped[str] = mapped_column(String(5), primary_key=True)
    end_time: Mapped[str] = mapped_column(String(5))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    region_code: Mapped[str | None] = mapped_column(String(12), index=True, default=None)
    site_name: Mapped[str] = mapped_column(String(200))


class ProviderImportRun(Base):
    """One import of provider files (the CLI, the API or the city loader) and its counts."""

    __tablename__ = "provider_import_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[str] = mapped_column(String(64), default="cli")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ProviderQuarantine(Base):
    """A provider-file row that was not imported, kept verbatim with every reason (隔离区).

    Keyed by the hash of (file, line, text), so importing the same bad file twice keeps one copy.
    """

    __tablename__ = "provider_quarantine"
    __table_args__ = (UniqueConstraint("file", "raw_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("provider_import_runs.id"), index=True)
    file: Mapped[str] = mapped_column(String(16))
    line: Mapped[int] = mapped_column(Integer)
    raw_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
