"""Tables every domain shares: the administrative region tree.

Regions are shared by security (jurisdiction), identity (where a record belongs), providers and
indicators, so they live in core rather than in any one domain.
"""

from __future__ import annotations

from sqlalchemy import Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.db import Base

REGION_LEVELS = ("province", "city", "district", "street", "community")


class Region(Base):
    """One node of province → city → district → street → community (省/市/区/街道/社区).

    Codes follow the statistical division code: 6 digits for province, city and district
    (440000, 449900, 449901), 9 for a street (449901001), 12 for a community (449901001001).
    A region contains every region whose code starts with its prefix (see
    :func:`carematch.security.jurisdiction.region_prefix`).
    """

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("regions.code"), index=True, default=None
    )
    kind: Mapped[str | None] = mapped_column(String(32), default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
