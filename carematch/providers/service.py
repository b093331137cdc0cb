"""Use cases of the provider registry: import and load providers, read them, search the map.

Services flush; the caller (CLI command, endpoint, job) commits.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.ids import new_id
from carematch.providers import repository
from carematch.providers.catalogue import MOBILE_VAN, service_catalogue
from carematch.providers.errors import (
    InvalidQuery,
    ProviderImportRejected,
    ProviderNotFound,
    UnknownService,
)
from carematch.providers.geo import Candidate, ServiceMap, Site
from carematch.providers.hours import DAY, WeeklyHours, parse_clock
from carematch.providers.ingest import (
    ID_PATTERN,
    PROVIDERS_FILE,
    SERVICES_FILE,
    STOPS_FILE,
    Batch,
    ImportFileError,
    Known,
    ProviderEntry,
    read_csv,
    validate,
)
from carematch.providers.models import (
    Provider,
    ProviderHours,
    ProviderImportRun,
    ProviderQuarantine,
    ProviderService,
    VanStop,
)
from carematch.security import audit
from carematch.security.jurisdiction import region_prefix

# The generator's file names; `carematch load` and `providers import DIR` read these.
CITY_FILES = {
    PROVIDERS_FILE: "providers.csv",
    SERVICES_FILE: "provider_services.csv",
    STOPS_FILE: "van_stops.csv",
}
MAX_NEAREST = 100


@dataclass
class ImportSummary:
    """What one import did; per file and overall, ``rows == accepted + quarantined``.

    ``new``/``updated``/``unchanged`` count providers touched by the import (named in the
    providers file, or whose services or stops the other files gave).
    """

    run_id: str
    rows: int
    accepted: int
    quarantined: int
    new: int
    updated: int
    unchanged: int
    files: dict[str, dict[str, int]]
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the CLI prints and the API returns."""
        return {
            "run_id": self.run_id,
            "rows": self.rows,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "new": self.new,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "files": self.files,
            "rejected": self.rejected,
        }


def load_providers(session: Session, city_dir: Path) -> ImportSummary:
    """Load a generated city's registry: providers.csv, provider_services.csv, van_stops.csv.

    The same validation and quarantine as any import (the generator's files pass it whole);
    load regions first, since providers refer to their community. Rerunning changes nothing.

    Raises:
        ProviderImportRejected: no providers.csv in ``city_dir``, or a file cannot be read.
    """
    return import_providers(session, city_dir, actor="load")


def import_providers(
    session: Session,
    path: Path,
    *,
    services: Path | None = None,
    stops: Path | None = None,
    actor: str = "cli",
    jurisdiction: str | None = None,
) -> ImportSummary:
    """Validate provider files and bring the registry in line with them.

    Args:
        path: a providers CSV, or a directory holding the generator's three files (the
            services and stops files are then optional).
        services, stops: a provider-services CSV and a van-stops CSV beside a providers file.
        actor: who imports (audited).
        jurisdiction: the importer's region; rows outside it are rejected (None: anywhere).

    The files are the truth for the providers they name: a named provider's services (when a
    services file or column is given) and stops (when a stops file is given) become exactly the
    valid rows given; providers not named are left alone (imports may be partial, e.g. one
    district). Rejected rows are quarantined with their reasons; rerunning adds nothing.

    Raises:
        ProviderImportRejected: a file is missing, unreadable or lacks a required column.
    """
    files = _resolve(path, services, stops)
    try:
        read = {name: read_csv(p, name) if p else None for name, p in files.items()}
        providers_csv = read[PROVIDERS_FILE]
        assert providers_csv is not None
        known = Known(repository.region_codes(session), repository.provider_refs(session))
        batch = validate(
            providers_csv, read[SERVICES_FILE], read[STOPS_FILE], known, jurisdiction=jurisdiction
        )
    except ImportFileError as exc:
        raise ProviderImportRejected(str(exc)) from None

    main_file = files[PROVIDERS_FILE]
    assert main_file is not None
    run = ProviderImportRun(id=new_id(), file_name=main_file.name, started_by=actor)
    session.add(run)
    session.flush()
    new, updated, unchanged = _apply(session, batch)
    _quarantine(session, run.id, batch)

    per_file = {name: batch.counts(name) for name in files if files[name] is not None}
    totals = {k: sum(c[k] for c in per_file.values()) for k in ("rows", "accepted", "quarantined")}
    run.rows, run.accepted, run.quarantined = (
        totals["rows"],
        totals["accepted"],
        totals["quarantined"],
    )
    run.new, run.updated, run.unchanged = new, updated, unchanged
    audit.record(
        session,
        actor=actor,
        action="import_providers",
        entity="provider_import_run",
        entity_id=run.id,
        detail=totals | {"new": new, "updated": updated},
    )
    session.flush()
    return ImportSummary(
        run_id=run.id,
        **totals,
        new=new,
        updated=updated,
        unchanged=unchanged,
        files=per_file,
        rejected=[{"file": r.file, "line": r.line, "reasons": r.reasons} for r in batch.rejected],
    )


def _resolve(path: Path, services: Path | None, stops: Path | None) -> dict[str, Path | None]:
    """The three files of an import, from a directory or from explicit paths."""
    if path.is_dir():
        if services or stops:
            raise ProviderImportRejected("give either a directory or files, not both")
        found: dict[str, Path | None] = {
            name: (path / fname if (path / fname).is_file() else None)
            for name, fname in CITY_FILES.items()
        }
        if found[PROVIDERS_FILE] is None:
            raise ProviderImportRejected(f"{path} has no providers.csv")
        return found
    for p in (path, services, stops):
        if p is not None and not p.is_file():
            raise ProviderImportRejected(f"no such file: {p}")
    return {PROVIDERS_FILE: path, SERVICES_FILE: services, STOPS_FILE: stops}


_PROVIDER_FIELDS = (
    "name",
    "name_en",
    "kind",
    "ownership",
    "region_code",
    "lat",
    "lon",
    "address",
    "phone",
    "opening_hours",
    "languages",
    "capabilities",
    "parent_id",
    "active",
)


def _provider_values(e: ProviderEntry) -> dict[str, Any]:
    return {
        "name": e.name,
        "name_en": e.name_en,
        "kind": e.kind,
        "ownership": e.ownership,
        "region_code": e.region_code,
        "lat": e.lat,
        "lon": e.lon,
        "address": e.address,
        "phone": e.phone,
        "opening_hours": e.opening_hours,
        "languages": ";".join(e.languages),
        "capabilities": ";".join(e.capabilities),
        "parent_id": e.parent_id,
        "active": e.active,
    }


SERVICE_COLUMNS = ("service_code", "daily_capacity", "price", "insured_share", "wait_days")
HOURS_COLUMNS = ("weekday", "opens", "closes")
STOP_COLUMNS = ("weekday", "start_time", "end_time", "lat", "lon", "region_code", "site_name")


def _rows(items: Sequence[Any], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """Child rows as sorted tuples, so stored and wanted rows compare as equal lists."""
    return sorted(tuple(getattr(item, c) for c in columns) for item in items)


def _rows_of_week(entry: ProviderEntry) -> list[tuple[Any, ...]]:
    """A provider row's parsed hours as sorted (weekday, opens, closes) tuples."""
    return sorted(entry.hours.day_ranges())


@dataclass(frozen=True)
class _State:
    """Everything the registry holds about one provider, in comparable form."""

    fields: dict[str, Any]
    hours: list[tuple[Any, ...]]
    services: list[tuple[Any, ...]]
    stops: list[tuple[Any, ...]]


def _apply(session: Session, batch: Batch) -> tuple[int, int, int]:
    """Bring every provider the batch names to its wanted state; (new, updated, unchanged)."""
    entries = {e.provider_id: e for e in batch.providers}
    services = batch.services
    if services is None and any(e.services is not None for e in entries.values()):
        services = {pid: list(e.services or ()) for pid, e in entries.items()}
    stops = batch.stops
    ids = sorted(set(entries) | set(services or {}) | set(stops or {}))
    stored = repository.providers_by_id(session, ids)
    stored_services = repository.services_of(session, ids)
    stored_hours = repository.hours_of(session, ids)
    stored_stops = repository.stops_of(session, ids)

    counts = {"new": 0, "updated": 0, "unchanged": 0}
    changed: dict[str, _State] = {}
    now = utcnow()
    for pid in ids:
        provider, entry = stored.get(pid), entries.get(pid)
        current = _State(
            {k: getattr(provider, k) for k in _PROVIDER_FIELDS} if provider else {},
            _rows(stored_hours.get(pid, []), HOURS_COLUMNS),
            _rows(stored_services.get(pid, []), SERVICE_COLUMNS),
            _rows(stored_stops.get(pid, []), STOP_COLUMNS),
        )
        # What is not given (no providers row, no services or stops file) stays as it is.
        fields = _provider_values(entry) if entry else current.fields
        is_van = fields["kind"] == MOBILE_VAN
        hours = _rows_of_week(entry) if entry else current.hours
        offered = current.services
        if services is not None and pid in services:
            offered = _rows(services[pid], SERVICE_COLUMNS)
        parked = current.stops
        if stops is not None and pid in stops:
            parked = _rows(stops[pid], STOP_COLUMNS)
        # Vans serve at their stops, not at opening hours; a provider no longer a van loses
        # its stops.
        wanted = _State(fields, [] if is_van else hours, offered, parked if is_van else [])
        if provider is not None and wanted == current:
            counts["unchanged"] += 1
            continue
        if provider is None:
            session.add(Provider(id=pid, **fields, created_at=now, updated_at=now))
            counts["new"] += 1
        else:
            for key, value in fields.items():
                setattr(provider, key, value)
            provider.updated_at = now
            counts["updated"] += 1
        changed[pid] = wanted
    # Providers first (children refer to them), then each changed provider's children at once.
    session.flush()
    for model, columns, part in (
        (ProviderService, SERVICE_COLUMNS, "services"),
        (ProviderHours, HOURS_COLUMNS, "hours"),
        (VanStop, STOP_COLUMNS, "stops"),
    ):
        rows = [
            {"provider_id": pid, **dict(zip(columns, row, strict=True))}
            for pid, state in changed.items()
            for row in getattr(state, part)
        ]
        repository.replace_children(session, model, list(changed), rows)
    session.flush()
    return counts["new"], counts["updated"], counts["unchanged"]


def _quarantine(session: Session, run_id: str, batch: Batch) -> None:
    """Keep each rejected row once (keyed by file, line and text), with its reasons."""
    seen = repository.quarantine_hashes(session)
    for r in batch.rejected:
        digest = hashlib.sha256(f"{r.line}\x1f{r.raw}".encode()).hexdigest()
        if (r.file, digest) in seen:
            continue
        seen.add((r.file, digest))
        session.add(
            ProviderQuarantine(
                id=new_id(),
                run_id=run_id,
                file=r.file,
                line=r.line,
                raw_hash=digest,
                raw=r.raw,
                reasons=json.dumps(r.reasons, ensure_ascii=False),
            )
        )
    session.flush()


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderView:
    """A provider with its services, opening ranges and van stops."""

    provider: Provider
    services: list[ProviderService]
    hours: list[ProviderHours]
    stops: list[VanStop]

    @property
    def evening_hours(self) -> bool:
        """Open at 19:00 or later on some day (what shift workers need, R-SP-1)."""
        late = [h.closes for h in self.hours] + [s.end_time for s in self.stops]
        return any(t > "19:00" for t in late)

    @property
    def weekend_hours(self) -> bool:
        """Open on Saturday or Sunday."""
        days = [h.weekday for h in self.hours] + [s.weekday for s in self.stops]
        return any(day >= 6 for day in days)


def check_service(code: str) -> None:
    """Reject a code that is not in the service catalogue (a typo must not look like 'none')."""
    if code not in service_catalogue():
        raise UnknownService(f"service {code!r} is not in the service catalogue")


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
) -> tuple[int, list[ProviderView]]:
    """Active providers matching the filters, by id, with the total count."""
    if service is not None:
        check_service(service)
    total, providers = repository.list_providers(
        session,
        limit=limit,
        offset=offset,
        service=service,
        region=region,
        kind=kind,
        language=language,
        capability=capability,
    )
    return total, _views(session, providers)


def get_provider(session: Session, provider_id: str) -> ProviderView:
    """One provider with its services, hours and stops.

    Raises:
        ProviderNotFound: no provider with this id.
    """
    # An id that cannot exist is not looked up (and NUL bytes never reach PostgreSQL).
    if not ID_PATTERN.match(provider_id):
        raise ProviderNotFound(f"no provider {provider_id!r}")
    found = repository.providers_by_id(session, [provider_id]).get(provider_id)
    if found is None:
        raise ProviderNotFound(f"no provider {provider_id}")
    return _views(session, [found])[0]


def _views(session: Session, providers: Sequence[Provider]) -> list[ProviderView]:
    ids = [p.id for p in providers]
    services = repository.services_of(session, ids)
    hours = repository.hours_of(session, ids)
    stops = repository.stops_of(session, ids)
    return [
        ProviderView(p, services.get(p.id, []), hours.get(p.id, []), stops.get(p.id, []))
        for p in providers
    ]


# --- the service map ------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A provider's terms for one service, as the map keeps them in memory."""

    daily_capacity: int
    price: float
    insured_share: float
    wait_days: int


@dataclass(frozen=True)
class ProviderCard:
    """What a search result shows of a provider; plain values, safe to share across requests."""

    id: str
    name: str
    name_en: str
    kind: str
    ownership: str | None
    region_code: str | None
    address: str | None
    phone: str | None
    languages: tuple[str, ...]
    capabilities: tuple[str, ...]

    @classmethod
    def of(cls, p: Provider) -> ProviderCard:
        return cls(
            id=p.id,
            name=p.name,
            name_en=p.name_en,
            kind=p.kind,
            ownership=p.ownership,
            region_code=p.region_code,
            address=p.address,
            phone=p.phone,
            languages=split_codes(p.languages),
            capabilities=split_codes(p.capabilities),
        )


@dataclass(frozen=True)
class Registry:
    """An in-memory snapshot of the active registry: the geo index plus what results show.

    Built once per registry change and shared by every request, so a query touches no database;
    the recommendation engine reads providers' capabilities, languages and terms from here.
    """

    map: ServiceMap
    providers: dict[str, ProviderCard]
    offers: dict[tuple[str, str], Offer]


@dataclass(frozen=True)
class Nearby:
    """One search result: the geo candidate, its provider and its terms for the service."""

    candidate: Candidate
    provider: ProviderCard
    offer: Offer


def split_codes(text: str) -> tuple[str, ...]:
    """``"zh;yue"`` → ``("zh", "yue")``."""
    return tuple(c for c in text.split(";") if c)


_cache_lock = threading.Lock()
_cache: dict[str, tuple[tuple[int, Any], Registry]] = {}


def registry(session: Session) -> Registry:
    """The service map of the session's database, rebuilt only when the registry changed.

    One cheap query (count and last change of providers) decides whether the cached map is
    current; the recommendation engine and the API call this per request.
    """
    key = str(session.get_bind().engine.url)
    fingerprint = repository.map_fingerprint(session)
    cached = _cache.get(key)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        built = build_registry(session)
        _cache[key] = (fingerprint, built)
        return built


def build_registry(session: Session) -> Registry:
    """Read every active provider with its services, hours and stops into a :class:`Registry`."""
    providers = {p.id: p for p in repository.active_providers(session)}
    offers: dict[tuple[str, str], Offer] = {}
    codes: dict[str, set[str]] = defaultdict(set)
    for pid, code, capacity, price, share, wait in repository.active_offers(session):
        offers[(pid, code)] = Offer(capacity, float(price), float(share), wait)
        codes[pid].add(code)
    ranges: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for pid, weekday, opens, closes in repository.active_hours(session):
        ranges[pid].append((weekday, opens, closes))
    sites: list[Site] = []
    for pid, weekday, start, end, lat, lon, site_name in repository.active_stops(session):
        if providers[pid].kind == MOBILE_VAN and codes[pid]:
            base = (weekday - 1) * DAY
            window = WeeklyHours.of([(base + parse_clock(start), base + parse_clock(end))])
            sites.append(Site(pid, lat, lon, window, frozenset(codes[pid]), site_name))
    for pid in sorted(providers):
        p = providers[pid]
        if p.kind != MOBILE_VAN and codes[pid]:
            week = WeeklyHours.from_day_ranges(ranges[pid])
            sites.append(Site(pid, p.lat, p.lon, week, frozenset(codes[pid])))
    cards = {pid: ProviderCard.of(p) for pid, p in providers.items()}
    return Registry(ServiceMap.build(sites), cards, offers)


def nearest(
    session: Session,
    service: str,
    lat: float,
    lon: float,
    at: datetime | None = None,
    *,
    limit: int = 10,
    open_only: bool = False,
    max_km: float | None = None,
) -> list[Nearby]:
    """The nearest active providers offering ``service`` from a point, open or opening when.

    Raises:
        UnknownService: the code is not in the catalogue.
        InvalidQuery: a coordinate, limit, distance or time out of range.
    """
    check_service(service)
    if not (math.isfinite(lat) and -90 <= lat <= 90):
        raise InvalidQuery(f"lat {lat} must be between -90 and 90")
    if not (math.isfinite(lon) and -180 <= lon <= 180):
        raise InvalidQuery(f"lon {lon} must be between -180 and 180")
    if not 1 <= limit <= MAX_NEAREST:
        raise InvalidQuery(f"limit {limit} must be between 1 and {MAX_NEAREST}")
    if max_km is not None and not (math.isfinite(max_km) and max_km > 0):
        raise InvalidQuery(f"max_km {max_km} must be a positive distance")
    when = at or utcnow()
    # The answer may name a time up to a week ahead; keep that inside what datetime can hold.
    if not 1900 <= when.year <= 9000:
        raise InvalidQuery(f"at {when.isoformat()} is outside the years 1900-9000")
    snapshot = registry(session)
    found = snapshot.map.nearest(service, lat, lon, when, limit, open_only=open_only, max_km=max_km)
    return [
        Nearby(c, snapshot.providers[c.provider_id], snapshot.offers[(c.provider_id, service)])
        for c in found
    ]


@dataclass(frozen=True)
class DailyCapacity:
    """What the active providers of one region can deliver of a service on one weekday.

    ``capacity`` is the sum of the daily capacities of the sites open there that weekday (a
    van's capacity shared among its stops that day); ``weekday`` is 1 (Monday) … 7 (Sunday).
    """

    region_code: str
    service: str
    weekday: int
    capacity: float


def capacity_by_region(session: Session, within: str | None = None) -> list[DailyCapacity]:
    """Service capacity per region and weekday, for comparing demand with supply.

    Args:
        within: a region code; only regions inside it (None: everywhere).

    Returns:
        One row per (region, service, weekday) with any capacity, ordered by those keys.
    """
    prefix = region_prefix(within) if within else None
    return [
        DailyCapacity(region, service, weekday, capacity)
        for region, service, weekday, capacity in repository.capacity_by_region_weekday(
            session, prefix
        )
    ]
