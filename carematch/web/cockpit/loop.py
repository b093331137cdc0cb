"""The closed loop on the cockpit (服务闭环): needs identified → booked → served → rated.

One read per domain, cut to the official's jurisdiction once here so the cards and the JSON
endpoint agree: demands from profiling (by the person's community), bookings, visits, ratings
and SLA breaches from booking (by the provider's region).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carematch.booking.indicators import DeliveryCounts, delivery_counts
from carematch.profiling.models import Demand
from carematch.security.jurisdiction import region_prefix


@dataclass(frozen=True)
class LoopCounts:
    """Where residents' needs stand, and what delivery has done about them."""

    demands_open: int
    demands_served: int
    demands_closed: int
    delivery: DeliveryCounts

    @property
    def served_share(self) -> float:
        """Needs served among those identified (open, served or closed otherwise)."""
        identified = self.demands_open + self.demands_served + self.demands_closed
        return self.demands_served / identified if identified else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "demands": {
                "open": self.demands_open,
                "served": self.demands_served,
                "closed": self.demands_closed,
                "served_share": round(self.served_share, 4),
            },
            "delivery": asdict(self.delivery),
        }


def loop_counts(session: Session, jurisdiction: str | None) -> LoopCounts:
    """The loop's counts inside a jurisdiction (None: the whole installation)."""
    stmt = select(Demand.status, func.count()).group_by(Demand.status)
    if jurisdiction:
        stmt = stmt.where(
            Demand.community_code.startswith(region_prefix(jurisdiction), autoescape=True)
        )
    demands = {status: int(n) for status, n in session.execute(stmt)}
    return LoopCounts(
        demands_open=demands.get("open", 0),
        demands_served=demands.get("served", 0),
        demands_closed=demands.get("closed", 0),
        delivery=delivery_counts(session, jurisdiction),
    )
