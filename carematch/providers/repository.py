"""Every query of the provider registry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from carematch.core.models import Region
from carematch.providers.catalogue import MOBILE_VAN
from carematch.providers.models import (
    Provider,
    ProviderHours,
    ProviderImportRun,
    ProviderQuarantine,
    ProviderService,
    VanStop,
)
from carematch.security.jurisdiction import region_prefix

# Enough for thousands of providers per statement without hitting SQLite's variable limit.
CHUNK = 500


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def region_codes(session: Session) -> frozenset[str]:
    """Every region code in the region table."""
    return frozenset(session.scalars(select(Region.code)))


def provider_refs(session: Session) -> dict[str, tuple[str, str | None]]:
    """provider id → (kind, region code) for every stored provider."""
    rows = session.execute(select(Provider.id, Provider.kind, Provider.region_code))
    return {pid: (kind, region) for pid, kind, region in rows}


def providers_by_id(session: Session, ids: Sequence[str]) -> dict[str, Provider]:
    """The stored providers among ``ids``."""
    found: dict[str, Provider] = {}
    for chunk in _chunks(ids):
        found |= {p.id: p for p in session.scalars(select(Provider).where(Provider.id.in_(chunk)))}
    return found


def services_of(session: Session, ids: Sequence[str]) -> dict[str, list[ProviderService]]:
    """Services of each provider in ``ids``, in code order."""
    out: dict[str, list[ProviderService]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(ProviderService)
            .where(ProviderService.provider_id.in_(chunk))
            .order_by(ProviderService.provider_id, ProviderService.service_code)
        )
        for s in session.scalars(stmt):
            out[s.provider_id].append(s)
    return out


def hours_of(session: Session, ids: Sequence[str]) -> dict[str, list[ProviderHours]]:
    """Opening ranges of each provider in ``ids``, by weekday and time."""
    out: dict[str, list[ProviderHours]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(ProviderHours)
            .where(ProviderHours.provider_id.in_(chunk))
            .order_by(ProviderHours.provider_id, ProviderHours.weekday, ProviderHours.opens)
        )
        for h in session.scalars(stmt):
            out[h.provider_id].append(h)
    return out


def stops_of(session: Session, ids: Sequence[str]) -> dict[str, list[VanStop]]:
    """Weekly stops of each van in ``ids``, by weekday and time."""
    out: dict[str, list[VanStop]] = defaultdict(list)
    for chunk in _chunks(ids):
        stmt = (
            select(VanStop)
            .where(VanStop.provider_id.in_(chunk))
            .order_by(VanStop.provider_id, VanStop.weekday, VanStop.start_time)
        )
        for s in session.scalars(stmt):
            out[s.provider_id].append(s)
    return out


def replace_children(
    session: Session,
    model: type[ProviderService] | type[ProviderHours] | type[VanStop],
    provider_ids: Sequence[str],
    rows: list[dict[str, Any]],
) -> None:
    """Delete the given providers' rows of one child table and insert ``rows`` instead."""
    for chunk in _chunks(provider_ids):
        session.execute(delete(model).where(model.provider_id.in_(chunk)))
    if rows:
        session.execute(insert(model), rows)


def quarantine_hashes(session: Session) -> set[tuple[str, str]]:
    """(file, hash) of every row already quarantined."""
    rows = session.execute(select(ProviderQuarantine.file, ProviderQuarantine.raw_hash))
    return {(file, digest) for file, digest in rows}


def run_quarantine(
    session: Session, run_id: str, limit: int, offset: int
) -> list[ProviderQuarantine]:
    """Rows one import quarantined, by file and line."""
    stmt = (
        select(ProviderQuarantine)
        .where(ProviderQuarantine.run_id == run_id)
        .order_by(ProviderQuarantine.file, ProviderQuarantine.line)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def get_run(session: Session, run_id: str) -> ProviderImportRun | None:
    """One import run."""
    return session.get(ProviderImportRun, run_id)


def _listed(column: Any, value: str) -> ColumnElement[bool]:
    """``value`` is one of the ``;``-separated codes in ``column``."""
    return (literal(";") + column + literal(";")).like(f"%;{value};%")


def _filtered(
    stmt: Select[Any],
    *,
    service: str | None,
    region: str | None,
    kind: str | None,
    language: str | None,
    capability: str | None,
    active: bool | None,
) -> Select[Any]:
    if service is not None:
        offering = select(ProviderService.provider_id).where(
            ProviderService.service_code == service
        )
        stmt = stmt.where(Provider.id.in_(offering))
    if region is not None:
        stmt = stmt.where(Provider.region_code.like(region_prefix(region) + "%"))
    if kind is not None:
        stmt = stmt.where(Provider.kind == kind)
    if language is not None:
        stmt = stmt.where(_listed(Provider.languages, language))
    if capability is not None:
        stmt = stmt.where(_listed(Provider.capabilities, capability))
    if active is not None:
        stmt = stmt.where(Provider.active.is_(active))
    return stmt


def list_providers(
    session: Session,
    *,
    limit: int,
    offset: int,
    service: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    language: str | None = None,
    capability: str | None = None,
    active: bool | None = True,
) -> tuple[int, list[Provider]]:
    """Providers matching every given filter, by id, with the total count."""

    def where(stmt: Select[Any]) -> Select[Any]:
        return _filtered(
            stmt,
            service=service,
            region=region,
            kind=kind,
            language=language,
            capability=capability,
            active=active,
        )

    total = session.scalar(where(select(func.count()).select_from(Provider))) or 0
    stmt = where(select(Provider)).order_by(Provider.id).limit(limit).offset(offset)
    return total, list(session.scalars(stmt))


def active_providers(session: Session) -> list[Provider]:
    """Every active provider (the service map's input)."""
    return list(session.scalars(select(Provider).where(Provider.active.is_(True))))


def active_offers(session: Session) -> list[tuple[str, str, int, Any, Any, int]]:
    """(provider, service, capacity, price, insured share, wait days) of active providers.

    Plain rows, not ORM objects: building the map reads tens of thousands of them.
    """
    stmt = (
        select(
            ProviderService.provider_id,
            ProviderService.service_code,
            ProviderService.daily_capacity,
            ProviderService.price,
            ProviderService.insured_share,
            ProviderService.wait_days,
        )
        .join(Provider, Provider.id == ProviderService.provider_id)
        .where(Provider.active.is_(True))
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def active_hours(session: Session) -> list[tuple[str, int, str, str]]:
    """(provider, weekday, opens, closes) of active providers."""
    stmt = (
        select(
            ProviderHours.provider_id,
            ProviderHours.weekday,
            ProviderHours.opens,
            ProviderHours.closes,
        )
        .join(Provider, Provider.id == ProviderHours.provider_id)
        .where(Provider.active.is_(True))
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def active_stops(session: Session) -> list[tuple[str, int, str, str, float, float, str]]:
    """(van, weekday, start, end, lat, lon, site name) of active vans, by van and weekday."""
    stmt = (
        select(
            VanStop.provider_id,
            VanStop.weekday,
            VanStop.start_time,
            VanStop.end_time,
            VanStop.lat,
            VanStop.lon,
            VanStop.site_name,
        )
        .join(Provider, Provider.id == VanStop.provider_id)
        .where(Provider.active.is_(True))
        .order_by(VanStop.provider_id, VanStop.weekday, VanStop.start_time)
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def map_fingerprint(session: Session) -> tuple[int, datetime | None]:
    """(count, last change) of the registry: changes whenever the service map must be rebuilt."""
    count, last = session.execute(select(func.count(), func.max(Provider.updated_at))).one()
    return int(count or 0), last


def capacity_by_region_weekday(
    session: Session, prefix: str | None = None
) -> list[tuple[str, str, int, float]]:
    """(region, service, weekday, capacity) of active providers, summed per serving day.

    A fixed site counts its whole daily capacity in its own region on each weekday it opens
    (several opening ranges on one day are one day). A van counts its daily capacity where it
    parks, shared equally among its stops of that weekday. ``prefix`` keeps the regions that
    start with it (None: everywhere); sites with no region are left out.
    """
    open_days = (
        select(ProviderHours.provider_id, ProviderHours.weekday).distinct().subquery("open_days")
    )
    fixed = (
        select(
            Provider.region_code,
            ProviderService.service_code,
            open_days.c.weekday,
            func.sum(ProviderService.daily_capacity),
        )
        .join(ProviderService, ProviderService.provider_id == Provider.id)
        .join(open_days, open_days.c.provider_id == Provider.id)
        .where(
            Provider.active.is_(True),
            Provider.kind != MOBILE_VAN,
            Provider.region_code.is_not(None),
        )
        .group_by(Provider.region_code, ProviderService.service_code, open_days.c.weekday)
    )
    stops_per_day = (
        select(VanStop.provider_id, VanStop.weekday, func.count().label("stops"))
        .group_by(VanStop.provider_id, VanStop.weekday)
        .subquery("stops_per_day")
    )
    vans = (
        select(
            VanStop.region_code,
            ProviderService.service_code,
            VanStop.weekday,
            func.sum(ProviderService.daily_capacity * 1.0 / stops_per_day.c.stops),
        )
        .join(Provider, Provider.id == VanStop.provider_id)
        .join(ProviderService, ProviderService.provider_id == VanStop.provider_id)
        .join(
            stops_per_day,
            (stops_per_day.c.provider_id == VanStop.provider_id)
            & (stops_per_day.c.weekday == VanStop.weekday),
        )
        .where(
            Provider.active.is_(True),
            Provider.kind == MOBILE_VAN,
            VanStop.region_code.is_not(None),
        )
        .group_by(VanStop.region_code, ProviderService.service_code, VanStop.weekday)
    )
    if prefix:
        fixed = fixed.where(Provider.region_code.like(prefix + "%"))
        vans = vans.where(VanStop.region_code.like(prefix + "%"))
    totals: dict[tuple[str, str, int], float] = defaultdict(float)
    for statement in (fixed, vans):
        for region, service, weekday, capacity in session.execute(statement):
            totals[(region, service, int(weekday))] += float(capacity or 0)
    return [(*key, totals[key]) for key in sorted(totals)]
