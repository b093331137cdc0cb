"""Tables of the vaccination domain: the doses given here (接种记录).

A dose given at one of our sites is recorded once per person, series and dose number (a second
submit of the same form is a 409, not a second dose). The lot names the cold-chain lot it came
from, so a recall finds exactly the persons dosed from it; ``event_index`` is the leaf of the
"administered" event in the cold-chain log. ``region_code`` is the person's community when
recorded: what staff jurisdiction filters on. ``observe_until`` is the end of the 30-minute
observation (留观) after the dose.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

# Where the dose went in (接种部位).
SITES = (
    "left_deltoid",
    "right_deltoid",
    "left_thigh",
    "right_thigh",
    "left_buttock",
    "right_buttock",
    "oral",
    "intranasal",
    "intradermal_left_arm",
    "intradermal_right_arm",
)


class Administration(Base):
    """A dose administered (接种): person, lot, series and dose number, site, vaccinator, time."""

    __tablename__ = "vaccination_administrations"
    __table_args__ = (
        UniqueConstraint("person_id", "series", "dose_number"),
        CheckConstraint("dose_number >= 1", name="dose_number_positive"),
        CheckConstraint(
            "site IN (" + ", ".join(repr(s) for s in SITES) + ")",
            name="site",
        ),
        Index("ix_vaccination_administrations_region_code_observe", "region_code", "observe_until"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(32), index=True)
    lot_id: Mapped[str] = mapped_column(ForeignKey("vaccine_lots.id"), index=True)
    series: Mapped[str] = mapped_column(String(32))
    dose_number: Mapped[int] = mapped_column(Integer)
    site: Mapped[str] = mapped_column(String(32))
    vaccinator_id: Mapped[str] = mapped_column(String(32))
    vaccinator: Mapped[str] = mapped_column(String(64))
    provider_id: Mapped[str | None] = mapped_column(ForeignKey("providers.id"), default=None)
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    administered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    observe_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    released_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    released_by: Mapped[str | None] = mapped_column(String(64), default=None)
    event_index: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
