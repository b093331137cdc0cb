"""Use cases of cohort allocation (批量精准对接): officials place a whole cohort under capacity.

An official picks a cohort — the open demands for one service, raised by some tags, in a
region inside their jurisdiction (say every child with overdue doses in a district) — and the
exact engine (:func:`carematch.matching.allocate.allocate_cohort`) places it on the providers of
that service inside the official's jurisdiction, each offering ``daily_capacity × days`` places.
Every demand of the cohort gets a :class:`Proposal` (a provider, or none and why); the official
confirms or rejects them. Every run and every decision is audited.

Decisions kept deliberately simple (and why):

- **Cohort by tag and region only.** A condition on features (e.g. ``hukou == 'migrant'``) is
  not evaluated here: that is what a demand tag is for (the tag library already has, for
  instance, ``migrant_child_unregistered``), and evaluating rules at allocation time would
  mean running the features pipeline for a whole district per click.
- **One place per person and service.** A person with two open demands for the service (two
  tags raise it) is placed once, for the most urgent demand; the other is counted as a
  duplicate. A person who holds a live proposal (proposed or confirmed) for the service is
  left out of later runs until it is rejected; so rerunning the same cohort never proposes a
  person twice, and demands nobody could take come back in the next run.
- **Capacity across runs.** A provider's places are ``daily_capacity × days`` less the live
  proposals it already holds for the service from runs started in the last ``days`` days, so
  two runs in one week never promise more than the provider offers.
- **Whose providers.** Providers inside the official's jurisdiction (an admin: all), because
  an official commits the capacity they administer; mobile vans are left out (they serve at
  weekly stops, which the booking issue will model as slots).
- **Where a person is.** Their community's centre, as for recommendations
  (:func:`carematch.matching.service.person_location`).
- **No bookings yet.** A confirmed proposal records who confirmed which provider for which
  demand and when; the booking issue turns confirmed proposals into appointments (and checks
  then that the demand is still open).

Services flush; the edge (endpoint, page, CLI) commits.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import Conflict, InvalidInput, NotFound
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.matching import repository
from carematch.matching.allocate import (
    DEFAULT_MAX_KM,
    DEFAULT_WAIT_WEIGHT,
    Demands,
    Providers,
    allocate_cohort,
    candidate_pairs,
)
from carematch.matching.errors import AllocationInputRejected
from carematch.matching.models import AllocationRun, Proposal
from carematch.matching.schemas import DEFAULT_DAYS, MAX_DAYS, MAX_KM_LIMIT, WAIT_WEIGHT_LIMIT
from carematch.matching.service import NoLocation, person_location
from carematch.profiling.service import list_demands
from carematch.profiling.tags import default_library
from carematch.providers.catalogue import MOBILE_VAN
from carematch.providers.service import check_service, list_providers
from carematch.security import audit
from carematch.security.authz import Principal

RUN_ID = re.compile(r"^[0-9a-f]{32}$")
PAGE = 5_000
DecisionStatus = Literal["confirmed", "rejected"]
# Why an unassigned demand got no provider.
NO_LOCATION = "no_location"
NONE_IN_REACH = "none_in_reach"
CAPACITY_TAKEN = "capacity_taken"


class AllocationRunNotFound(NotFound):
    """No such allocation run, or it was drawn from outside the caller's jurisdiction."""

    type = "/problems/allocation-run-not-found"
    title = "Allocation run not found"


class ProposalNotFound(NotFound):
    """A proposal id that is not one of this run's."""

    type = "/problems/proposal-not-found"
    title = "Proposal not found"


class ProposalStateConflict(Conflict):
    """A proposal that cannot take the decision asked for (decided otherwise, or unassigned)."""

    type = "/problems/proposal-state-conflict"
    title = "Proposal state conflict"


class CohortRejected(InvalidInput):
    """A cohort that cannot be drawn: an unknown tag, or a tag that never raises the service."""

    type = "/problems/cohort-rejected"
    title = "Cohort rejected"


class RegionNotFound(NotFound):
    """No such region, or it lies outside the caller's jurisdiction (not revealed which)."""

    type = "/problems/region-not-found"
    title = "Region not found"


@dataclass(frozen=True)
class CohortFilter:
    """Which open demands form the cohort: a service, optionally tags and a region."""

    service: str
    tags: tuple[str, ...] = ()
    region: str | None = None


@dataclass(frozen=True)
class CohortMember:
    """One demand of the cohort, as the run places it."""

    demand_id: str
    person_id: str
    tag: str
    priority: int
    community_code: str | None


@dataclass
class Cohort:
    """The demands to place, most urgent first, and those left out (and why)."""

    area: str | None
    members: list[CohortMember]
    already_proposed: int
    duplicates: int


@dataclass(frozen=True)
class ProviderPlaces:
    """A provider's places for the service in this run: where, how many, how long a wait."""

    provider_id: str
    lat: float
    lon: float
    capacity: int
    wait_days: int


@dataclass(frozen=True)
class DecisionResult:
    """What a confirm or reject changed, and the run afterwards."""

    run: AllocationRun
    decision: DecisionStatus
    changed: list[str]


def check_parameters(max_km: float, wait_weight: float, days: int) -> None:
    """Refuse parameters the API would refuse too (the service may be called from elsewhere)."""
    if not (isinstance(max_km, int | float) and math.isfinite(max_km)):
        raise AllocationInputRejected(f"max_km must be a number, got {max_km!r}")
    if not 0 < max_km <= MAX_KM_LIMIT:
        raise AllocationInputRejected(f"max_km must be in (0, {MAX_KM_LIMIT:g}], got {max_km:g}")
    if not (isinstance(wait_weight, int | float) and math.isfinite(wait_weight)):
        raise AllocationInputRejected(f"wait_weight must be a number, got {wait_weight!r}")
    if not 0 <= wait_weight <= WAIT_WEIGHT_LIMIT:
        raise AllocationInputRejected(
            f"wait_weight must be in [0, {WAIT_WEIGHT_LIMIT:g}], got {wait_weight:g}"
        )
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise AllocationInputRejected(f"days must be a whole number in [1, {MAX_DAYS}]")


def check_filter(session: Session, principal: Principal, cohort: CohortFilter) -> str | None:
    """Validate a cohort filter; return the area the cohort is drawn from.

    Raises:
        UnknownService: the service is not in the catalogue (400).
        CohortRejected: a tag is unknown or does not raise the service (400).
        RegionNotFound: the region is unknown or outside the jurisdiction (404, like a person
            in another district: the answer must not reveal what exists there).
    """
    check_service(cohort.service)
    library = default_library()
    for tag in cohort.tags:
        known = library.tags.get(tag)
        if known is None:
            raise CohortRejected(f"tag {tag!r} is not in the tag library")
        if cohort.service not in known.services:
            raise CohortRejected(
                f"tag {tag!r} never raises service {cohort.service!r}"
                f" (it raises {', '.join(known.services)})"
            )
    if cohort.region is None:
        return principal.jurisdiction
    if (
        not cohort.region.isdigit()
        or not principal.can_see(cohort.region)
        or session.get(Region, cohort.region) is None
    ):
        raise RegionNotFound(f"no region {cohort.region} in your jurisdiction")
    return cohort.region


def select_cohort(session: Session, principal: Principal, cohort: CohortFilter) -> Cohort:
    """The open demands of the filter inside the jurisdiction, one per person, most urgent first.

    A person holding a live proposal for the service is left out (``already_proposed``); a
    person's less urgent demands for the service are left out as ``duplicates``.
    """
    area = check_filter(session, principal, cohort)
    found = {}
    for tag in cohort.tags or (None,):
        offset = 0
        while True:
            total, page = list_demands(
                session,
                principal,
                status="open",
                tag=tag,
                service=cohort.service,
                community=cohort.region,
                limit=PAGE,
                offset=offset,
            )
            for demand in page:
                found[demand.id] = CohortMember(
                    demand.id, demand.person_id, demand.tag, demand.priority, demand.community_code
                )
            offset += PAGE
            if offset >= total or not page:
                break
    ordered = sorted(found.values(), key=lambda m: (m.priority, m.demand_id))
    held = repository.persons_holding(
        session, cohort.service, sorted({m.person_id for m in ordered})
    )
    members: list[CohortMember] = []
    placed: set[str] = set()
    already = duplicates = 0
    for member in ordered:
        if member.person_id in held:
            already += 1
        elif member.person_id in placed:
            duplicates += 1
        else:
            placed.add(member.person_id)
            members.append(member)
    return Cohort(area, members, already, duplicates)


def provider_places(
    session: Session, principal: Principal, service: str, days: int
) -> list[ProviderPlaces]:
    """Each provider of the service inside the jurisdiction, with the places it has left.

    Places are ``daily_capacity × days`` less the live proposals the provider holds for the
    service from runs started in the last ``days`` days (never below zero).
    """
    held = repository.capacity_held(session, service, utcnow() - timedelta(days=days))
    places: list[ProviderPlaces] = []
    offset = 0
    while True:
        total, views = list_providers(
            session, limit=PAGE, offset=offset, service=service, region=principal.jurisdiction
        )
        for view in views:
            provider = view.provider
            if provider.kind == MOBILE_VAN:
                continue
            offer = next(s for s in view.services if s.service_code == service)
            left = max(offer.daily_capacity * days - held.get(provider.id, 0), 0)
            places.append(
                ProviderPlaces(provider.id, provider.lat, provider.lon, left, offer.wait_days)
            )
        offset += PAGE
        if offset >= total or not views:
            break
    return places


def _reasons(
    service: str,
    unassigned: list[tuple[str, float, float]],
    places: list[ProviderPlaces],
    max_km: float,
) -> dict[str, str]:
    """Why each located but unassigned demand got nobody: none in reach, or capacity taken."""
    if not unassigned:
        return {}
    demands = Demands.from_columns(
        [d for d, _, _ in unassigned],
        [service] * len(unassigned),
        [lat for _, lat, _ in unassigned],
        [lon for _, _, lon in unassigned],
    )
    offered = Providers.from_columns(
        [p.provider_id for p in places],
        [service] * len(places),
        [p.lat for p in places],
        [p.lon for p in places],
        [p.capacity for p in places],
        [p.wait_days for p in places],
    )
    reachable = np.unique(candidate_pairs(demands, offered, max_km).demand)
    in_reach = {str(demands.ids[i]) for i in reachable}
    return {d: (CAPACITY_TAKEN if d in in_reach else NONE_IN_REACH) for d, _, _ in unassigned}


def propose_allocation(
    session: Session,
    principal: Principal,
    cohort_filter: CohortFilter,
    *,
    max_km: float = DEFAULT_MAX_KM,
    wait_weight: float = DEFAULT_WAIT_WEIGHT,
    days: int = DEFAULT_DAYS,
) -> AllocationRun:
    """Draw the cohort, allocate it exactly, and store the run with one proposal per demand.

    The assignment is :func:`allocate_cohort`'s optimum on the cohort (each person at their
    community's centre) and the providers' places: the most demands placed, then the least
    Σ distance + wait_weight × wait_days. Audited.

    Raises:
        AllocationInputRejected: a parameter out of range (400).
        UnknownService, CohortRejected, RegionNotFound: see :func:`check_filter`.
    """
    check_parameters(max_km, wait_weight, days)
    cohort = select_cohort(session, principal, cohort_filter)
    service = cohort_filter.service
    places = provider_places(session, principal, service, days)

    located: list[tuple[str, float, float]] = []
    where: dict[str | None, tuple[float, float] | None] = {}
    for member in cohort.members:
        if member.community_code not in where:
            try:
                where[member.community_code] = person_location(session, member.community_code)
            except NoLocation:
                where[member.community_code] = None
        point = where[member.community_code]
        if point is not None:
            located.append((member.demand_id, point[0], point[1]))

    outcome: dict[str, tuple[str | None, float | None]] = {}
    if located:
        for a in allocate_cohort(
            [
                {"demand_id": d, "service": service, "lat": lat, "lon": lon}
                for d, lat, lon in located
            ],
            [
                {
                    "provider_id": p.provider_id,
                    "service": service,
                    "lat": p.lat,
                    "lon": p.lon,
                    "capacity": p.capacity,
                    "wait_days": p.wait_days,
                }
                for p in places
            ],
            max_km=max_km,
            wait_weight=wait_weight,
        ):
            outcome[a.demand_id] = (a.provider_id, a.distance_km)
    reasons = _reasons(service, [x for x in located if outcome[x[0]][0] is None], places, max_km)

    now = utcnow()
    run = AllocationRun(
        id=new_id(),
        service=service,
        tags=json.dumps(sorted(set(cohort_filter.tags))),
        region_code=cohort.area,
        max_km=float(max_km),
        wait_weight=float(wait_weight),
        days=days,
        status="open",
        created_by=principal.username,
        created_at=now,
        cohort=len(cohort.members),
        already_proposed=cohort.already_proposed,
        duplicates=cohort.duplicates,
        providers=len(places),
        capacity=sum(p.capacity for p in places),
    )
    session.add(run)
    session.flush()
    wait = {p.provider_id: p.wait_days for p in places}
    rows = []
    assigned, distance, cost = 0, 0.0, 0.0
    for seq, member in enumerate(cohort.members):
        provider, km = outcome.get(member.demand_id, (None, None))
        if provider is not None and km is not None:
            assigned += 1
            distance += km
            cost += km + wait_weight * wait[provider]
            status, reason = "proposed", None
        else:
            status, reason = "unassigned", reasons.get(member.demand_id, NO_LOCATION)
        rows.append(
            {
                "id": new_id(),
                "run_id": run.id,
                "seq": seq,
                "demand_id": member.demand_id,
                "person_id": member.person_id,
                "service": service,
                "tag": member.tag,
                "priority": member.priority,
                "community_code": member.community_code,
                "provider_id": provider,
                "distance_km": km,
                "wait_days": wait[provider] if provider is not None else None,
                "status": status,
                "reason": reason,
            }
        )
    repository.insert_proposals(session, rows)
    run.assigned, run.total_distance_km, run.total_cost = assigned, distance, cost
    if not assigned:
        run.status, run.closed_at = "closed", now
    audit.record(
        session,
        actor=principal.username,
        action="propose_allocation",
        entity="allocation_run",
        entity_id=run.id,
        detail={
            "service": service,
            "tags": sorted(set(cohort_filter.tags)),
            "region": cohort.area,
            "max_km": max_km,
            "wait_weight": wait_weight,
            "days": days,
            "cohort": run.cohort,
            "assigned": assigned,
        },
    )
    session.flush()
    return run


def get_run(session: Session, principal: Principal, run_id: str) -> AllocationRun:
    """A run the principal may see; 404 for a run drawn from outside their jurisdiction."""
    run = repository.get_run(session, run_id) if RUN_ID.match(run_id) else None
    if run is None or not principal.can_see(run.region_code):
        raise AllocationRunNotFound(f"no allocation run {run_id}")
    return run


def list_runs(
    session: Session, principal: Principal, *, limit: int = 20, offset: int = 0
) -> tuple[int, list[AllocationRun]]:
    """Runs drawn from inside the principal's jurisdiction, newest first."""
    return repository.list_runs(session, principal.jurisdiction, limit, offset)


def list_proposals(
    session: Session,
    principal: Principal,
    run_id: str,
    *,
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Proposal]]:
    """One page of a run's proposals, in the order the run placed them (404 outside)."""
    run = get_run(session, principal, run_id)
    return repository.list_proposals(session, run.id, status, limit, offset)


def status_counts(session: Session, run: AllocationRun) -> dict[str, int]:
    """How many of the run's proposals are in each status."""
    return repository.status_counts(session, run.id)


def confirm(
    session: Session, principal: Principal, run_id: str, proposal_ids: Sequence[str] | None
) -> DecisionResult:
    """Confirm proposals (listed, or None for all awaiting a decision); audited, idempotent.

    A confirmed proposal is what the booking issue will turn into an appointment.
    """
    return _decide(session, principal, run_id, proposal_ids, "confirmed")


def reject(
    session: Session, principal: Principal, run_id: str, proposal_ids: Sequence[str] | None
) -> DecisionResult:
    """Reject proposals (listed, or None for all awaiting a decision); audited, idempotent.

    The person's demand is then free to be placed by a later run.
    """
    return _decide(session, principal, run_id, proposal_ids, "rejected")


def _decide(
    session: Session,
    principal: Principal,
    run_id: str,
    proposal_ids: Sequence[str] | None,
    decision: DecisionStatus,
) -> DecisionResult:
    run = get_run(session, principal, run_id)
    ids = None if proposal_ids is None else sorted(set(proposal_ids))
    if ids is not None:
        found = repository.proposals_by_id(session, run.id, ids)
        missing = [i for i in ids if i not in found]
        if missing:
            raise ProposalNotFound(
                f"{len(missing)} proposal(s) are not in run {run.id}, e.g. {missing[0]}"
            )
        # Decisions are final, and a demand nobody could take has nothing to confirm: asking
        # for either changes nothing and says which (asking again for the same is a no-op).
        blocked = [p for p in found.values() if p.status not in ("proposed", decision)]
        if blocked:
            first = min(blocked, key=lambda p: p.seq)
            raise ProposalStateConflict(
                f"{len(blocked)} proposal(s) cannot be {decision},"
                f" e.g. {first.id} is {first.status}"
            )
    now = utcnow()
    changed = repository.decide(session, run.id, ids, decision, principal.username, now)
    if changed:
        detail: dict[str, object] = {
            "decision": decision,
            "count": len(changed),
            "all": ids is None,
        }
        if ids is not None:
            detail["proposal_ids"] = changed
        audit.record(
            session,
            actor=principal.username,
            action="confirm_allocation" if decision == "confirmed" else "reject_allocation",
            entity="allocation_run",
            entity_id=run.id,
            detail=detail,
        )
    run = get_run(session, principal, run.id)
    if run.status == "open" and not repository.status_counts(session, run.id).get("proposed"):
        run.status, run.closed_at = "closed", now
    session.flush()
    return DecisionResult(run, decision, changed)
