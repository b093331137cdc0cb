"""Use cases of matching: recommend providers for a person's demands.

The person's place is their community's centre (the registry geocodes communities, not
homes); candidates come from the service map; the recommender ranks them. For a person, the
cost of an option is what they can expect to pay: nothing for a service a free-service policy
they are eligible for covers, else the provider's price through every benefit the policy
library gives them (:func:`carematch.policy.stacking.service_cost`); from a bare point, with no
person, it is the price. Until bookings and ratings are
stored, the slot is derived from opening hours and the provider's wait, and every provider
starts from the same satisfaction prior (say so on the page).

A person's recommendations also weigh collaborative filtering (what people with a similar
history of visits chose, :mod:`carematch.matching.cf_store`) once ``carematch match cf-train``
has stored a model; the public query from a point has no person and no history, so no CF.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import CareMatchError
from carematch.core.models import Region
from carematch.identity.errors import PersonNotFound
from carematch.identity.service import visible_person
from carematch.matching import cf_store
from carematch.matching.recommend import (
    Demand,
    Option,
    estimated_earliest_slot,
    format_reason,
    recommend,
)
from carematch.profiling.service import open_demands
from carematch.profiling.tags import default_library
from carematch.providers.catalogue import service_catalogue
from carematch.providers.errors import InvalidQuery
from carematch.providers.service import check_service, registry
from carematch.security import audit
from carematch.security.authz import Principal

CANDIDATES = 30
Gettext = Callable[[str], str]


class NoLocation(CareMatchError):
    """The person's community has no known place, so distances cannot be measured."""

    status = 409
    type = "/problems/no-location"
    title = "Location unknown"


@dataclass
class Choice:
    """One recommended provider for one demand, ready to show."""

    provider_id: str
    name: str
    name_en: str
    rank: int
    score: float
    on_front: bool
    distance_km: float
    lat: float
    lon: float
    slot: str
    reason: str
    scores: dict[str, float]
    out_of_pocket: float | None = None
    """Yuan the person can expect to pay (the cost objective); the price from a bare point."""


@dataclass
class ServiceRecommendation:
    """The ranked providers for one service a person needs."""

    service: str
    service_name: str
    service_name_en: str
    tags: list[str]
    choices: list[Choice] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class PersonRecommendations:
    """Every open need of a person with its ranked providers, and where the person is."""

    person_id: str
    lat: float | None  # None when there is nothing to recommend (no need, no place needed)
    lon: float | None
    services: list[ServiceRecommendation]


def person_location(session: Session, community_code: str | None) -> tuple[float, float]:
    """The centre of the person's community (or of the nearest enclosing region that has one)."""
    code = community_code
    while code:
        region = session.get(Region, code)
        if region is None:
            break
        if region.lat is not None and region.lon is not None:
            return region.lat, region.lon
        code = region.parent_code
    raise NoLocation("the person's community has no known location")


def recommend_for_person(
    session: Session,
    principal: Principal,
    person_id: str,
    *,
    gettext: Gettext,
    service: str | None = None,
    weights: Mapping[str, float] | None = None,
    at: datetime | None = None,
    limit: int = 5,
) -> PersonRecommendations:
    """Ranked providers for each service the person's open demands call for (or one service).

    404 outside the jurisdiction (like any person read), and for a resident any person but
    themselves; the read is audited.
    """
    if principal.role == "resident" and principal.person_id != person_id:
        raise PersonNotFound(f"no person {person_id}")
    person = visible_person(session, principal, person_id)
    audit.record(
        session,
        actor=principal.username,
        action="recommend",
        entity="person",
        entity_id=person_id,
        detail={"service": service},
    )
    library = default_library()
    wanted: dict[str, list[str]] = {}
    if service is not None:
        check_service(service)
        wanted[service] = []
    else:
        for need in open_demands(session, person_id):
            wanted.setdefault(need.service, []).append(need.tag)
    if not wanted:
        return PersonRecommendations(person_id, None, None, [])
    lat, lon = person_location(session, person.community_code)
    when = at or utcnow()
    costs = _person_costs(session, person_id, when)
    out = []
    for code, tags in wanted.items():
        needs = tuple(sorted({n for t in tags if t in library.tags for n in library.tags[t].needs}))
        entry = _recommend_at(
            session,
            code,
            lat,
            lon,
            gettext=gettext,
            needs=needs,
            weights=weights,
            at=when,
            limit=limit,
            person_id=person_id,
            cost=costs(code),
        )
        entry.tags = tags
        out.append(entry)
    return PersonRecommendations(person_id, lat, lon, out)


def recommend_at(
    session: Session,
    service: str,
    lat: float,
    lon: float,
    *,
    gettext: Gettext,
    needs: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    weights: Mapping[str, float] | None = None,
    at: datetime | None = None,
    limit: int = 5,
) -> ServiceRecommendation:
    """Ranked providers of one service from a point: "nearest and best at my need" (R-SP-2).

    Raises:
        UnknownService: the code is not in the catalogue.
        InvalidQuery: a coordinate out of range.
        InvalidWeights: bad weights.
    """
    return _recommend_at(
        session,
        service,
        lat,
        lon,
        gettext=gettext,
        needs=needs,
        languages=languages,
        weights=weights,
        at=at,
        limit=limit,
    )


def _recommend_at(
    session: Session,
    service: str,
    lat: float,
    lon: float,
    *,
    gettext: Gettext,
    needs: tuple[str, ...] = (),
    languages: tuple[str, ...] = (),
    weights: Mapping[str, float] | None = None,
    at: datetime | None = None,
    limit: int = 5,
    person_id: str | None = None,
    cost: Callable[[Option], float] | None = None,
) -> ServiceRecommendation:
    """:func:`recommend_at`, with the person's CF scores blended in when a person is given.

    Private so that no public caller can ask for someone else's CF scores by passing an id:
    only :func:`recommend_for_person`, which has checked and audited the read, passes one.
    """
    check_service(service)
    if not (math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidQuery(f"({lat}, {lon}) is not a point on Earth")
    when = at or utcnow()
    snapshot = registry(session)
    info = service_catalogue().get(service)
    entry = ServiceRecommendation(
        service, info.name if info else service, info.name_en if info else service, []
    )
    demand = Demand(service, lat, lon, when, languages=languages, needs=needs)
    options = []
    located = {}
    for candidate in snapshot.map.nearest(service, lat, lon, when, CANDIDATES):
        located[candidate.provider_id] = candidate
        provider = snapshot.providers[candidate.provider_id]
        offer = snapshot.offers[(candidate.provider_id, service)]
        hours = snapshot.map.site_hours(
            service, candidate.provider_id, candidate.lat, candidate.lon
        )
        slot = estimated_earliest_slot(hours, when, offer.wait_days) if hours else None
        options.append(
            Option(
                candidate.provider_id,
                candidate.distance_km,
                slot,
                price=offer.price,
                capabilities=frozenset(provider.capabilities),
                languages=frozenset(provider.languages),
            )
        )
    if not options:
        return entry
    cf = (
        cf_store.scores_for(person_id, service, [o.provider_id for o in options])
        if person_id is not None
        else None
    )
    result = recommend(demand, options, weights=weights, cf=cf, cost=cost)
    entry.weights = dict(result.weights)
    for item in result.ranking[:limit]:
        provider = snapshot.providers[item.provider_id]
        site = located[item.provider_id]
        entry.choices.append(
            Choice(
                provider_id=item.provider_id,
                name=provider.name,
                name_en=provider.name_en,
                rank=item.rank,
                score=round(item.score, 4),
                on_front=item.on_front,
                distance_km=round(item.objectives.distance_km, 3),
                lat=site.lat,
                lon=site.lon,
                slot=item.slot.isoformat(),
                reason=format_reason(item.reason, gettext),
                scores={k: round(v, 4) for k, v in item.scores.items()},
                out_of_pocket=round(item.objectives.cost, 2),
            )
        )
    return entry


def _person_costs(
    session: Session, person_id: str, when: datetime
) -> Callable[[str], Callable[[Option], float] | None]:
    """For each service, the person's expected out-of-pocket of an option (benefit stacking).

    The features are computed online by profiling's pipeline, without a second audit entry:
    :func:`recommend_for_person` has audited the read. A person the pipeline cannot profile
    is charged the price, as before the library knew benefits.
    """
    from carematch.core.clock import city_today
    from carematch.policy.library import benefit_library
    from carematch.policy.service import library_on
    from carematch.policy.stacking import free_services, service_cost
    from carematch.profiling.service import features_for

    day = city_today(when)
    rows = features_for(session, [person_id], day).to_pylist()
    if not rows:
        return lambda service: None
    features = dict(rows[0])
    conditions = [str(c) for c in (features.pop("conditions", None) or []) if c]
    library = library_on(session, day, base=benefit_library())
    free = free_services(library, features, conditions, as_of=day)

    def for_service(service: str) -> Callable[[Option], float]:
        def cost(option: Option) -> float:
            return float(
                service_cost(
                    library, service, option.price, features, conditions, as_of=day, free=free
                )
            )

        return cost

    return for_service


def as_json(recommendations: PersonRecommendations) -> dict[str, Any]:
    """Plain JSON data of a person's recommendations (for the API and the page's map)."""
    from dataclasses import asdict

    return asdict(recommendations)
