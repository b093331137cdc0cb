"""Use cases of profiling: compute features and tags, keep demands, read a person's profile.

The batch (every person) and the online path (one person) run the same feature pipeline
and the same rules, so a person's page always agrees with the last batch on the same data.
Services flush; the edge (CLI command, endpoint) commits.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import pyarrow as pa
from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.assessments.service import profile_rows
from carematch.core.clock import city_today, utcnow
from carematch.core.ids import new_id, stable_id
from carematch.identity.service import (
    LinkedRecord,
    golden_records,
    linked_records,
    persons_with_attribute,
    read_person,
)
from carematch.profiling import repository
from carematch.profiling.errors import DemandNotFound, DemandStateConflict
from carematch.profiling.features import (
    HOUSEHOLD_SOURCES,
    SOURCE_COLUMNS,
    compute_features,
    persons_table,
    source_table,
)
from carematch.profiling.models import Demand, ProfileRun
from carematch.profiling.tags import TagInstance, TagLibrary, default_library, evaluate_batch
from carematch.security.authz import Principal
from carematch.vaccination.forecast import count_overdue_batch
from carematch.vaccination.schedule import default_schedule

Progress = Callable[[str], None]


@dataclass
class ProfileSummary:
    """What one profiling run did."""

    run_id: str
    as_of: str
    persons: int
    tag_instances: int
    opened: int
    kept: int
    closed: int
    by_tag: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _overdue(as_of: date, births: Any, doses: Any) -> list[int]:
    return count_overdue_batch(default_schedule(), as_of, births, doses)


def load_inputs(
    session: Session, person_ids: list[str] | None = None
) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Golden records and every source's typed rows (decrypted), for all or some persons.

    For some persons, the inputs also hold the poverty and settlement records of the other
    members of their registered households (as :func:`features.inputs_for` cuts them), because
    ``oop_12m`` sums the household's settlements: without them a person's page would show
    less than the batch. Assessments, home visits and questionnaires (recorded in CareMatch,
    not ingested) come from the assessments domain as sources of their own.
    """
    persons = persons_table(list(golden_records(session, person_ids)))
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    records = list(linked_records(session, person_ids))
    if person_ids is not None:
        records += _household_records(session, records, set(person_ids))
    for record in records:
        if record.source in SOURCE_COLUMNS:
            rows[record.source].append(
                {"person_id": record.person_id, "record_id": record.record_id, **record.values}
            )
    for source, recorded in profile_rows(session, person_ids).items():
        rows[source].extend(recorded)
    # Doses given here count as the immunization registry's (until its next extract has them).
    from carematch.vaccination.administration import administered_dose_rows

    rows["immunization"].extend(administered_dose_rows(session, person_ids))
    sources = {}
    for source, source_rows in rows.items():
        for row in source_rows:
            for name, kind in SOURCE_COLUMNS[source].items():
                if pa.types.is_date(kind) and isinstance(row.get(name), str):
                    row[name] = date.fromisoformat(row[name])
        sources[source] = source_table(source, source_rows)
    return persons, sources


def _household_records(
    session: Session, records: list[LinkedRecord], person_ids: set[str]
) -> list[LinkedRecord]:
    """Poverty and settlement records of the other members of these persons' households."""
    households = {
        str(r.values["household_id"])
        for r in records
        if r.source == "poverty" and r.values.get("household_id")
    }
    if not households:
        return []
    members = persons_with_attribute(session, "poverty", "household_id", households) - person_ids
    if not members:
        return []
    return [r for r in linked_records(session, sorted(members)) if r.source in HOUSEHOLD_SOURCES]


def features_for(
    session: Session, person_ids: list[str] | None = None, as_of: date | None = None
) -> pa.Table:
    """The features view for all persons, or for the given ones (the same pipeline)."""
    persons, sources = load_inputs(session, person_ids)
    return compute_features(persons, sources, as_of or city_today(), _overdue)


def build_profiles(
    session: Session,
    as_of: date | None = None,
    *,
    library: TagLibrary | None = None,
    progress: Progress | None = None,
) -> ProfileSummary:
    """Recompute every person's features and tags and bring the demands up to date.

    Idempotent: a rerun on the same data changes nothing but ``last_seen_at``. A demand
    whose tag no longer holds is closed, and opened again if the tag holds again later; a
    served demand stays served.
    """
    as_of = as_of or city_today()
    library = library or default_library()
    run = ProfileRun(id=new_id(), as_of=as_of)
    session.add(run)
    if progress:
        progress("reading records")
    persons, sources = load_inputs(session)
    features = compute_features(persons, sources, as_of, _overdue, progress=progress)
    if progress:
        progress("tags")
    instances = evaluate_batch(features, library, as_of)
    community = dict(
        zip(
            features.column("person_id").to_pylist(),
            features.column("community").to_pylist(),
            strict=True,
        )
    )
    if progress:
        progress("demands")
    opened, kept, closed = _sync_demands(session, instances, library, community, as_of)
    by_tag: dict[str, int] = defaultdict(int)
    for instance in instances:
        by_tag[instance.tag] += 1
    run.persons = features.num_rows
    run.tag_instances = len(instances)
    run.opened, run.kept, run.closed = opened, kept, closed
    run.finished_at = utcnow()
    run.summary = json.dumps(dict(sorted(by_tag.items())), ensure_ascii=False)
    session.flush()
    return ProfileSummary(
        run.id,
        as_of.isoformat(),
        features.num_rows,
        len(instances),
        opened,
        kept,
        closed,
        dict(sorted(by_tag.items())),
    )


def demand_id(person_id: str, tag: str, service: str) -> str:
    """The stable id of a person's demand for a service raised by a tag."""
    return stable_id("D", person_id, tag, service)[:32]


def _sync_demands(
    session: Session,
    instances: Iterable[TagInstance],
    library: TagLibrary,
    community: dict[str, Any],
    as_of: date,
) -> tuple[int, int, int]:
    now = utcnow()
    states = repository.demand_states(session)
    existing = {did: status for did, (status, _) in states.items()}
    fresh: list[dict[str, Any]] = []
    seen: list[tuple[str, str, str | None]] = []
    reopened: list[str] = []
    for instance in instances:
        tag = library.tags[instance.tag]
        because = json.dumps(instance.because, ensure_ascii=False, sort_keys=True)
        for service in tag.services:
            did = demand_id(instance.person_id, tag.id, service)
            if did in existing:
                seen.append((did, because, community.get(instance.person_id)))
                closed_by_us = states.get(did) == ("closed", repository.NO_LONGER_APPLIES)
                if closed_by_us and existing[did] == "closed":  # open while the tag holds
                    reopened.append(did)
                    existing[did] = "open"
                continue
            existing[did] = "open"
            fresh.append(
                {
                    "id": did,
                    "person_id": instance.person_id,
                    "tag": tag.id,
                    "service": service,
                    "demand_type": tag.type,
                    "level": tag.level,
                    "priority": tag.priority,
                    "status": "open",
                    "because": because,
                    "community_code": community.get(instance.person_id),
                    "as_of": as_of,
                    "first_seen_at": now,
                    "last_seen_at": now,
                    "status_changed_at": now,
                }
            )
    repository.insert_demands(session, fresh)
    repository.reopen_demands(session, reopened, now)
    still = {did for did, _, _ in seen} | {row["id"] for row in fresh}
    repository.touch_demands(session, seen, as_of, now)
    gone = [did for did, status in existing.items() if status == "open" and did not in still]
    repository.close_demands(session, gone, repository.NO_LONGER_APPLIES, now)
    return len(fresh) + len(reopened), len(seen) - len(reopened), len(gone)


def mark_served(session: Session, demand: str) -> Demand:
    """A service record met the demand: it is served and never reopened."""
    row = session.get(Demand, demand)
    if row is None:
        raise DemandNotFound(f"no demand {demand}")
    if row.status == "served":
        return row
    if row.status != "open":
        raise DemandStateConflict(f"demand {demand} is {row.status}, not open")
    row.status = "served"
    row.status_changed_at = utcnow()
    session.flush()
    return row


@dataclass
class PersonProfile:
    """A person's features, tags with their explanations, and demands."""

    person_id: str
    as_of: str
    features: dict[str, Any]
    tags: list[dict[str, Any]]
    demands: list[Demand]


def person_profile(
    session: Session,
    principal: Principal,
    person_id: str,
    as_of: date | None = None,
    library: TagLibrary | None = None,
) -> PersonProfile:
    """One person's profile, computed online; 404 outside the jurisdiction; the read is audited."""
    read_person(session, principal, person_id)
    as_of = as_of or city_today()
    library = library or default_library()
    table = features_for(session, [person_id], as_of)
    values = table.to_pylist()[0] if table.num_rows else {"person_id": person_id}
    from carematch.profiling.tags import evaluate_one

    tags = []
    for instance in evaluate_one(values, library, as_of):
        tag = library.tags[instance.tag]
        tags.append(
            {
                "tag": tag.id,
                "label": tag.label_zh,
                "label_en": tag.label_en,
                "type": tag.type,
                "level": tag.level,
                "groups": list(tag.groups),
                "services": list(tag.services),
                "priority": tag.priority,
                "because": instance.because,
            }
        )
    tags.sort(key=lambda t: (t["priority"], t["tag"]))
    demands = list(
        session.scalars(
            select(Demand)
            .where(Demand.person_id == person_id)
            .order_by(Demand.priority, Demand.tag, Demand.service)
        )
    )
    shown = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()}
    return PersonProfile(person_id, as_of.isoformat(), shown, tags, demands)


def open_demands(session: Session, person_id: str) -> list[Demand]:
    """A person's open demands, most urgent first (the caller has checked the jurisdiction)."""
    return list(
        session.scalars(
            select(Demand)
            .where(Demand.person_id == person_id, Demand.status == "open")
            .order_by(Demand.priority, Demand.tag, Demand.service)
        )
    )


def list_demands(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    tag: str | None = None,
    service: str | None = None,
    community: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[int, list[Demand]]:
    """Demands inside the caller's jurisdiction, filtered, most urgent first (then by id)."""
    return repository.list_demands(
        session,
        principal.jurisdiction,
        status=status,
        tag=tag,
        service=service,
        community=community,
        limit=limit,
        offset=offset,
    )


def open_demand_table(session: Session, region: str | None = None) -> pa.Table:
    """Open demands as Arrow ``(person_id, tag, service, community_code)`` for set-based work
    in other domains (the policy proposals), in a region and below (None: all)."""
    rows = repository.open_demand_rows(session, region)
    columns = ("person_id", "tag", "service", "community_code")
    return pa.table(
        {name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(columns)}
    )


def demand_arrivals(session: Session, region: str | None = None) -> pa.Table:
    """Demands by when they arose, as Arrow ``(community_code, service, first_seen_at,
    demands)``, whatever their status now, in a region and below (None: all): the input of the
    demand forecasts."""
    rows = repository.demand_arrival_rows(session, region)
    return pa.table(
        {
            "community_code": pa.array([r[0] for r in rows], pa.string()),
            "service": pa.array([r[1] for r in rows], pa.string()),
            "first_seen_at": pa.array([r[2] for r in rows], pa.timestamp("us", tz="UTC")),
            "demands": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
