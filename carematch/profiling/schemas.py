"""API shapes of the profiling domain."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel

from carematch.profiling.models import Demand


class TagPublic(BaseModel):
    """A tag true for the person, and why (the feature values that decided it)."""

    tag: str
    label: str
    label_en: str
    type: str
    level: str
    groups: list[str]
    services: list[str]
    priority: int
    because: dict[str, Any]


class DemandPublic(BaseModel):
    """A demand: a person's need for one service, raised by a tag."""

    id: str
    person_id: str
    tag: str
    service: str
    demand_type: str
    level: str
    priority: int
    status: str
    closed_reason: str | None
    community_code: str | None
    as_of: date

    @classmethod
    def of(cls, demand: Demand) -> DemandPublic:
        return cls(
            id=demand.id,
            person_id=demand.person_id,
            tag=demand.tag,
            service=demand.service,
            demand_type=demand.demand_type,
            level=demand.level,
            priority=demand.priority,
            status=demand.status,
            closed_reason=demand.closed_reason,
            community_code=demand.community_code,
            as_of=demand.as_of,
        )


class DemandsPublic(BaseModel):
    """A page of demands."""

    items: list[DemandPublic]
    total: int
    limit: int
    offset: int


class ProfilePublic(BaseModel):
    """A person's features (computed now), tags with explanations, and stored demands."""

    person_id: str
    as_of: date
    features: dict[str, Any]
    tags: list[TagPublic]
    demands: list[DemandPublic]
