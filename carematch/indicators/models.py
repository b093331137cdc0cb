"""Tables of the indicators domain: the stored series (指标时间序列) and the warnings.

Nothing here names a person: values are counts and shares over regions, so nothing is
encrypted.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

STATUSES = ("green", "amber", "red", "none", "no_data")
WARNING_STATUSES = ("open", "rectifying", "dismissed")


class IndicatorValue(Base):
    """One indicator's value for one month, region and breakdown key (one point of a series).

    A refresh of a period replaces that period's rows (delete, then insert), so rerunning it
    never duplicates a point. ``disaggregation`` is ``total``, ``hukou``, ``age_group`` or
    ``policy``; ``group_key`` is the breakdown's value ('' for the total).
    """

    __tablename__ = "indicator_values"
    __table_args__ = (
        UniqueConstraint(
            "indicator_id",
            "period",
            "region_code",
            "disaggregation",
            "group_key",
            name="uq_indicator_values_point",
        ),
        Index("ix_indicator_values_region_code_period", "region_code", "period"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    region_code: Mapped[str] = mapped_column(String(12))
    disaggregation: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(String(64), default="")
    numerator: Mapped[float | None] = mapped_column(Float, default=None)
    denominator: Mapped[float | None] = mapped_column(Float, default=None)
    value: Mapped[float | None] = mapped_column(Float, default=None)
    target: Mapped[float | None] = mapped_column(Float, default=None)
    status: Mapped[str] = mapped_column(String(8))
    computed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndicatorWarning(Base):
    """An abnormal drop of one series (异常预警), raised to the region's officials.

    One per series and period (a rerun finds it rather than adding another). ``status`` is
    open, rectifying (a rectification-ledger item was opened: ``finding_id``) or dismissed.
    """

    __tablename__ = "indicator_warnings"
    __table_args__ = (
        UniqueConstraint(
            "indicator_id",
            "period",
            "region_code",
            "disaggregation",
            "group_key",
            name="uq_indicator_warnings_point",
        ),
        Index("ix_indicator_warnings_region_code_status", "region_code", "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    indicator_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    region_code: Mapped[str] = mapped_column(String(12))
    disaggregation: Mapped[str] = mapped_column(String(16))
    group_key: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[float] = mapped_column(Float)
    baseline: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="open")
    finding_id: Mapped[str | None] = mapped_column(String(32), default=None)
    detected_on: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    rectified_by: Mapped[str | None] = mapped_column(String(64), default=None)
    rectified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
