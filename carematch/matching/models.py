"""Tables of the matching domain: cohort allocation runs and the bookings they propose.

An official allocates a cohort (every open demand for one service, by tag and region, inside
their jurisdiction); the exact engine (:mod:`carematch.matching.allocate`) places it under the
providers' capacity, and each demand gets a :class:`Proposal` the official confirms or rejects.
There is no booking domain yet: a confirmed proposal is the record the booking issue turns into
an appointment (provider, service, person, who confirmed and when).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from carematch.core.clock import utcnow
from carematch.core.db import Base

RUN_STATUSES = ("open", "closed")
# proposed: a provider is offered and awaits a decision; unassigned: no provider could take
# the demand (out of reach, or capacity ran out), nothing to decide; confirmed / rejected: the
# official's decision, final.
PROPOSAL_STATUSES = ("proposed", "unassigned", "confirmed", "rejected")
# A proposal in one of these holds the person's place (and the provider's capacity): the person
# is not proposed again for the same service while it lasts.
LIVE_STATUSES = ("proposed", "confirmed")


class AllocationRun(Base):
    """One cohort allocation (批量分配) an official ran: the cohort, the parameters, the outcome.

    ``region_code`` is the area the cohort was drawn from (the region asked for, else the
    official's jurisdiction; None only for an admin's city-wide run): the run is visible to
    whoever may see that area. The run is ``open`` while some proposal awaits a decision.
    """

    __tablename__ = "allocation_runs"
    __table_args__ = (Index("ix_allocation_runs_region_created", "region_code", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    service: Mapped[str] = mapped_column(String(64))
    # JSON list of the tags the cohort was drawn by ([] = any tag that raises the service).
    tags: Mapped[str] = mapped_column(Text, default="[]")
    region_code: Mapped[str | None] = mapped_column(String(12), default=None)
    max_km: Mapped[float] = mapped_column(Float)
    wait_weight: Mapped[float] = mapped_column(Float)
    # Days of capacity offered: each provider takes daily_capacity × days demands at most.
    days: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    cohort: Mapped[int] = mapped_column(Integer, default=0)
    assigned: Mapped[int] = mapped_column(Integer, default=0)
    # Demands left out of the cohort: the person already holds a live proposal for the service,
    # or has a more urgent demand for it in the same cohort.
    already_proposed: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    providers: Mapped[int] = mapped_column(Integer, default=0)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    total_distance_km: Mapped[float] = mapped_column(Float, default=0.0)
    total_cost: Mapped[float] = mapped_column(Float, default=0.0)


class Proposal(Base):
    """A proposed booking for one demand of a run: the provider, or none and why (拟预约).

    ``person_id``, ``service`` and ``community_code`` are copied from the demand at run time,
    so the proposal reads (and is scoped) without the profiling tables, and the booking issue
    can book from it alone.
    """

    __tablename__ = "allocation_proposals"
    __table_args__ = (
        UniqueConstraint("run_id", "demand_id"),
        Index("ix_allocation_proposals_run_status", "run_id", "status"),
        Index("ix_allocation_proposals_live", "service", "status", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("allocation_runs.id"))
    # The order in which the run placed the demands (most urgent first), for paging.
    seq: Mapped[int] = mapped_column(Integer)
    demand_id: Mapped[str] = mapped_column(ForeignKey("demands.id"), index=True)
    person_id: Mapped[str] = mapped_column(String(32))
    service: Mapped[str] = mapped_column(String(64))
    tag: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    community_code: Mapped[str | None] = mapped_column(String(12), default=None)
    provider_id: Mapped[str | None] = mapped_column(
        ForeignKey("providers.id"), index=True, default=None
    )
    distance_km: Mapped[float | None] = mapped_column(Float, default=None)
    wait_days: Mapped[int | None] = mapped_column(Integer, default=None)
    status: Mapped[str] = mapped_column(String(16))
    # Why a demand is unassigned: no_location (its community has no known place) or
    # out_of_reach (no provider with capacity left within max_km).
    reason: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
