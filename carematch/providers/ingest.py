"""Reading and validating provider files: a pure engine, no database.

Three files describe the registry (their columns are in docs/data-dictionary.md, "Provider
import"): providers (one row per provider, services optionally inline), provider services (one
row per provider and service) and van stops (one row per weekly stop of a mobile van). Every
row is checked; a row with any problem is rejected with every reason and its exact text, never
dropped silently, and rows that depend on a rejected provider are rejected too.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path

from carematch.providers.catalogue import (
    CAPABILITIES,
    MOBILE_VAN,
    OWNERSHIPS,
    PROVIDER_KINDS,
    service_catalogue,
)
from carematch.providers.hours import (
    WEEKDAYS,
    HoursSyntaxError,
    WeeklyHours,
    clock,
    parse_clock,
    parse_hours,
)
from carematch.security.jurisdiction import region_prefix, within

PROVIDERS_FILE, SERVICES_FILE, STOPS_FILE = "providers", "services", "van_stops"
REQUIRED = {
    PROVIDERS_FILE: ("provider_id", "name", "kind", "lat", "lon"),
    SERVICES_FILE: ("provider_id", "service_code", "daily_capacity", "price"),
    STOPS_FILE: ("provider_id", "weekday", "start_time", "end_time", "lat", "lon", "site_name"),
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_REGION = re.compile(r"^\d{6}(\d{3}){0,2}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
_TRUE, _FALSE = {"true", "1", "yes", "y", "t"}, {"false", "0", "no", "n", "f"}
CENT = Decimal("0.01")


class ImportFileError(ValueError):
    """A file that cannot be imported at all (unreadable, no header, a required column missing)."""


@dataclass(frozen=True)
class OfferedService:
    """One service a provider offers, on its terms (R-SP-3: price and the share covered)."""

    provider_id: str
    service_code: str
    daily_capacity: int
    price: Decimal
    insured_share: Decimal
    wait_days: int


@dataclass(frozen=True)
class StopEntry:
    """One weekly stop of a van: where, on which weekday, from when to when."""

    provider_id: str
    weekday: int
    start_time: str
    end_time: str
    lat: float
    lon: float
    region_code: str | None
    site_name: str


@dataclass(frozen=True)
class ProviderEntry:
    """One valid provider row; ``services`` is None when the row gave none inline."""

    provider_id: str
    name: str
    name_en: str
    kind: str
    ownership: str | None
    region_code: str | None
    lat: float
    lon: float
    address: str | None
    phone: str | None
    opening_hours: str
    hours: WeeklyHours
    languages: tuple[str, ...]
    capabilities: tuple[str, ...]
    parent_id: str | None
    active: bool
    services: tuple[OfferedService, ...] | None = None


@dataclass
class Rejected:
    """A row that was not imported: which file, its first line, its exact text and why."""

    file: str
    line: int
    raw: str
    reasons: list[dict[str, str]]


@dataclass
class CsvFile:
    """A decoded CSV: its normalised header and rows (first line number, exact text, cells)."""

    name: str
    header: list[str]
    rows: list[tuple[int, str, list[str]]]


@dataclass
class Batch:
    """Everything one import read: the valid rows by provider and the rejected rows.

    ``services`` / ``stops`` are None when that file was not given, so existing rows stay.
    """

    providers: list[ProviderEntry] = field(default_factory=list)
    services: dict[str, list[OfferedService]] | None = None
    stops: dict[str, list[StopEntry]] | None = None
    rejected: list[Rejected] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def counts(self, file: str) -> dict[str, int]:
        """Rows, accepted and quarantined of one file; rows == accepted + quarantined."""
        quarantined = sum(1 for r in self.rejected if r.file == file)
        rows = self.rows.get(file, 0)
        return {"rows": rows, "accepted": rows - quarantined, "quarantined": quarantined}


@dataclass(frozen=True)
class Known:
    """What the database already holds that rows may refer to."""

    regions: frozenset[str] = frozenset()  # empty: no region tree loaded, codes not checked
    # provider id → (kind, region code) of providers already in the registry
    providers: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)


# --- reading --------------------------------------------------------------------------------


def read_csv(path: Path, name: str) -> CsvFile:
    """Read one CSV (UTF-8 with or without BOM, or GB18030) keeping each row's exact text.

    Raises:
        ImportFileError: unreadable, empty, or a required column is missing.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from None
    return parse_csv(data, name)


def parse_csv(data: bytes, name: str) -> CsvFile:
    """Decode and split CSV bytes; see :func:`read_csv`."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes every byte string
        raise ImportFileError(f"{name}: not UTF-8 or GB18030 text")
    if "\x00" in text:
        # No text column can store NUL (PostgreSQL refuses it): this is not a CSV export.
        raise ImportFileError(f"{name}: the file contains NUL bytes; is it really CSV?")
    consumed: list[str] = []
    line_no = 0

    def lines() -> Iterator[str]:
        nonlocal line_no
        for physical in io.StringIO(text, newline=""):
            line_no += 1
            consumed.append(physical)
            yield physical

    reader = csv.reader(lines())
    header: list[str] | None = None
    rows: list[tuple[int, str, list[str]]] = []
    try:
        while True:
            consumed.clear()
            start = line_no + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [unicodedata.normalize("NFKC", c).strip().lower() for c in cells]
                continue
            rows.append((start, "".join(consumed).rstrip("\r\n"), cells))
    except csv.Error as exc:
        raise ImportFileError(f"{name}: line {line_no}: {exc}") from None
    if header is None:
        raise ImportFileError(f"{name}: the file is empty (no header row)")
    missing = [c for c in REQUIRED[name] if c not in header]
    if missing:
        raise ImportFileError(
            f"{name}: missing column(s) {', '.join(missing)} (found: {', '.join(header)})"
        )
    return CsvFile(name, header, rows)


# --- cell checks ----------------------------------------------------------------------------


class _Row:
    """One row's cells by column name, collecting every problem instead of stopping at one."""

    def __init__(self, header: list[str], cells: list[str]) -> None:
        self.values = {h: c.strip() for h, c in zip(header, cells, strict=False)}
        self.errors: list[dict[str, str]] = []
        if len(cells) != len(header):
            self.error("column_count", f"{len(cells)} cells for {len(header)} columns")

    def error(self, code: str, message: str) -> None:
        self.errors.append({"code": code, "message": message})

    def text(self, column: str, *, required: bool = False, max_len: int = 200) -> str | None:
        value = unicodedata.normalize("NFC", self.values.get(column, ""))
        if not value:
            if required:
                self.error(f"missing_{column}", f"{column} is empty")
            return None
        if len(value) > max_len:
            self.error(f"long_{column}", f"{column} is longer than {max_len} characters")
            return None
        return value

    def ident(self, column: str, *, required: bool = True) -> str | None:
        value = self.text(column, required=required)
        if value is not None and not ID_PATTERN.match(value):
            self.error(f"bad_{column}", f"{column} {value!r}: letters, digits, _ . - (≤ 32)")
            return None
        return value

    def choice(self, column: str, allowed: tuple[str, ...], *, required: bool) -> str | None:
        value = self.text(column, required=required)
        if value is not None and value not in allowed:
            self.error(f"unknown_{column}", f"{column} {value!r} is not one of {allowed}")
            return None
        return value

    def coordinate(self, column: str, bound: float) -> float | None:
        raw = self.text(column, required=True)
        if raw is None:
            return None
        try:
            value = float(raw)
        except ValueError:
            self.error(f"bad_{column}", f"{column} {raw!r} is not a number")
            return None
        if not math.isfinite(value) or not -bound <= value <= bound:
            self.error(f"bad_{column}", f"{column} {raw} is outside [-{bound:g}, {bound:g}]")
            return None
        return value

    def location(self) -> tuple[float, float] | None:
        lat, lon = self.coordinate("lat", 90), self.coordinate("lon", 180)
        if lat is None or lon is None:
            return None
        if lat == 0 and lon == 0:
            # (0, 0) is where blank coordinates land when a spreadsheet fills them with zeros.
            self.error("bad_location", "lat/lon 0,0 is a missing location, not a place")
            return None
        return lat, lon

    def integer(self, column: str, *, default: int | None = None, low: int = 0) -> int | None:
        raw = self.text(column, required=default is None)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.error(f"bad_{column}", f"{column} {raw!r} is not a whole number")
            return None
        if value < low:
            self.error(f"bad_{column}", f"{column} {value} is below {low}")
            return None
        return value

    def decimal(
        self, column: str, *, high: Decimal | None = None, default: Decimal | None = None
    ) -> Decimal | None:
        raw = self.text(column, required=default is None)
        if raw is None:
            return default
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.error(f"bad_{column}", f"{column} {raw!r} is not a number")
            return None
        if not value.is_finite() or value < 0 or (high is not None and value > high):
            upper = f", at most {high}" if high is not None else ""
            self.error(f"bad_{column}", f"{column} {raw} must be 0 or more{upper}")
            return None
        return value

    def flag(self, column: str) -> bool:
        raw = (self.text(column) or "true").lower()
        if raw not in _TRUE | _FALSE:
            self.error(f"bad_{column}", f"{column} {raw!r} is not true or false")
        return raw not in _FALSE

    def listed(self, column: str, allowed: tuple[str, ...] | re.Pattern[str]) -> tuple[str, ...]:
        raw = self.text(column, max_len=500) or ""
        items = tuple(dict.fromkeys(i.strip() for i in raw.split(";") if i.strip()))
        for item in items:
            ok = allowed.match(item) if isinstance(allowed, re.Pattern) else item in allowed
            if not ok:
                self.error(f"unknown_{column}", f"{column} entry {item!r} is not known")
        return items

    def region(self, known: frozenset[str], jurisdiction: str | None) -> str | None:
        """The most specific of community, street, district or region code, checked."""
        codes = [
            code
            for column in ("district_code", "street_code", "community_code", "region_code")
            if (code := self.text(column))
        ]
        for code in codes:
            if not _REGION.match(code):
                self.error("bad_region", f"region code {code!r} is not 6, 9 or 12 digits")
                return None
        codes.sort(key=len)
        for outer, inner in pairwise(codes):
            if not inner.startswith(region_prefix(outer)):
                self.error("inconsistent_region", f"{inner} does not lie in {outer}")
                return None
        region = codes[-1] if codes else None
        # An installation without its region tree cannot check codes; it keeps them as given.
        if region is not None and known and region not in known:
            self.error("unknown_region", f"region {region} is not in the region table")
            return None
        if jurisdiction is not None and not within(region, jurisdiction):
            where = f"region {region}" if region else "a provider without a region"
            self.error("outside_jurisdiction", f"{where} is outside {jurisdiction}")
            return None
        return region


def _inline_services(row: _Row, provider_id: str) -> tuple[OfferedService, ...]:
    """``code:capacity:price[:insured_share[:wait_days]]`` entries separated by ``;``."""
    catalogue = service_catalogue()
    offered: dict[str, OfferedService] = {}
    for entry in (e.strip() for e in row.values.get("services", "").split(";")):
        if not entry:
            continue
        parts = entry.split(":")
        sub = _Row(
            ["service_code", "daily_capacity", "price", "insured_share", "wait_days"][: len(parts)],
            parts,
        )
        if not 3 <= len(parts) <= 5:
            row.error("bad_services", f"{entry!r} is not code:capacity:price[:share[:wait]]")
            continue
        service = _service(sub, provider_id, catalogue)
        for problem in sub.errors:
            row.error(problem["code"], f"services {entry!r}: {problem['message']}")
        if service is not None and service.service_code in offered:
            row.error("duplicate_service", f"service {service.service_code} listed twice")
        elif service is not None:
            offered[service.service_code] = service
    return tuple(offered.values())


def _service(row: _Row, provider_id: str, catalogue: Mapping[str, object]) -> OfferedService | None:
    code = row.text("service_code", required=True)
    if code is not None and code not in catalogue:
        row.error("unknown_service", f"service code {code!r} is not in the catalogue")
    capacity = row.integer("daily_capacity")
    price = row.decimal("price")
    share = row.decimal("insured_share", high=Decimal(1), default=Decimal(0))
    wait = row.integer("wait_days", default=0)
    if row.errors:
        return None
    assert code is not None and capacity is not None and price is not None
    assert share is not None and wait is not None
    return OfferedService(
        provider_id,
        code,
        capacity,
        price.quantize(CENT, ROUND_HALF_UP),
        share.quantize(Decimal("0.001"), ROUND_HALF_UP),
        wait,
    )


# --- the three files ------------------------------------------------------------------------


def validate(
    providers: CsvFile,
    services: CsvFile | None,
    stops: CsvFile | None,
    known: Known,
    *,
    jurisdiction: str | None = None,
) -> Batch:
    """Validate one import: providers first, then the rows that refer to them.

    Args:
        providers, services, stops: the files read; services and stops are optional.
        known: regions and providers already stored.
        jurisdiction: the importing user's region (None: unrestricted); rows outside it are
            rejected, so a district official cannot change another district's registry.
    """
    if services is not None and "services" in providers.header:
        raise ImportFileError("give services either inline (a services column) or as a file")
    batch = Batch(rows={PROVIDERS_FILE: len(providers.rows)})
    accepted: dict[str, ProviderEntry] = {}
    rejected_ids: set[str] = set()
    for line, raw, cells in providers.rows:
        row = _Row(providers.header, cells)
        entry = _provider(row, known, jurisdiction)
        if entry is not None and entry.provider_id in accepted:
            row.error("duplicate_id", f"provider_id {entry.provider_id} appears earlier in file")
        if row.errors or entry is None:
            named = row.values.get("provider_id", "")
            if named and named not in accepted:
                rejected_ids.add(named)
            batch.rejected.append(Rejected(PROVIDERS_FILE, line, raw, row.errors))
        else:
            accepted[entry.provider_id] = entry
    batch.providers = list(accepted.values())

    def owner(row: _Row) -> tuple[str | None, str | None]:
        """The provider a dependent row names, and its kind, if it may be changed."""
        pid = row.ident("provider_id")
        if pid is None:
            return None, None
        if pid in accepted:
            return pid, accepted[pid].kind
        if pid in rejected_ids:
            row.error("provider_rejected", f"provider {pid} was rejected in this import")
        elif pid not in known.providers:
            row.error("unknown_provider", f"provider {pid} is not in this file or the registry")
        elif jurisdiction is not None and not within(known.providers[pid][1], jurisdiction):
            row.error("outside_jurisdiction", f"provider {pid} is outside {jurisdiction}")
        else:
            return pid, known.providers[pid][0]
        return None, None

    if services is not None:
        batch.rows[SERVICES_FILE] = len(services.rows)
        batch.services = {p: [] for p in accepted}
        catalogue = service_catalogue()
        for line, raw, cells in services.rows:
            row = _Row(services.header, cells)
            pid = owner(row)[0]
            offered = _service(row, pid or "", catalogue)
            if offered is not None and pid is not None:
                taken = {s.service_code for s in batch.services.get(pid, [])}
                if offered.service_code in taken:
                    row.error("duplicate_service", f"{pid} {offered.service_code} appears earlier")
            if row.errors or offered is None or pid is None:
                batch.rejected.append(Rejected(SERVICES_FILE, line, raw, row.errors))
            else:
                batch.services.setdefault(pid, []).append(offered)

    if stops is not None:
        batch.rows[STOPS_FILE] = len(stops.rows)
        batch.stops = {p: [] for p, e in accepted.items() if e.kind == MOBILE_VAN}
        for line, raw, cells in stops.rows:
            row = _Row(stops.header, cells)
            pid, owner_kind = owner(row)
            if pid is not None and owner_kind != MOBILE_VAN:
                row.error("not_a_van", f"provider {pid} is a {owner_kind}, only vans have stops")
            stop = _stop(row, pid or "", known.regions)
            if stop is not None and pid is not None:
                clash = _overlap(stop, batch.stops.get(pid, []))
                if clash:
                    row.error("overlapping_stop", clash)
            if row.errors or stop is None or pid is None:
                batch.rejected.append(Rejected(STOPS_FILE, line, raw, row.errors))
            else:
                batch.stops.setdefault(pid, []).append(stop)
    return batch


def _provider(row: _Row, known: Known, jurisdiction: str | None) -> ProviderEntry | None:
    pid = row.ident("provider_id")
    name = row.text("name", required=True)
    kind = row.choice("kind", PROVIDER_KINDS, required=True)
    ownership = row.choice("ownership", OWNERSHIPS, required=False)
    location = row.location()
    region = row.region(known.regions, jurisdiction)
    opening = " ".join((row.text("opening_hours", max_len=500) or "").split())
    try:
        hours = parse_hours(opening)
    except HoursSyntaxError as exc:
        row.error("bad_hours", f"opening_hours: {exc}")
        hours = WeeklyHours(())
    languages = row.listed("languages", _LANGUAGE)
    capabilities = row.listed("capabilities", CAPABILITIES)
    parent = row.ident("parent_id", required=False)
    active = row.flag("active")
    services = _inline_services(row, pid or "") if "services" in row.values else None
    if row.errors:
        return None
    assert pid is not None and name is not None and kind is not None and location is not None
    return ProviderEntry(
        provider_id=pid,
        name=name,
        name_en=row.text("name_en") or "",
        kind=kind,
        ownership=ownership,
        region_code=region,
        lat=location[0],
        lon=location[1],
        address=row.text("address", max_len=300),
        phone=row.text("phone", max_len=32),
        opening_hours=opening,
        hours=hours,
        languages=languages,
        capabilities=capabilities,
        parent_id=parent,
        active=active,
        services=services,
    )


def _stop(row: _Row, provider_id: str, regions: frozenset[str]) -> StopEntry | None:
    raw_day = row.text("weekday", required=True)
    weekday = None
    if raw_day is not None:
        if raw_day in WEEKDAYS:
            weekday = WEEKDAYS.index(raw_day) + 1
        elif raw_day.isdigit() and 1 <= int(raw_day) <= 7:
            weekday = int(raw_day)
        else:
            row.error("bad_weekday", f"weekday {raw_day!r} is not 1-7 (Monday = 1) or Mo … Su")
    times = []
    for column in ("start_time", "end_time"):
        value = row.text(column, required=True)
        try:
            times.append(parse_clock(value) if value is not None else None)
        except HoursSyntaxError as exc:
            row.error(f"bad_{column}", f"{column}: {exc}")
            times.append(None)
    start, end = times
    if start is not None and end is not None and not start < end:
        row.error("bad_stop_time", "a stop must end after it starts, on the same day")
    location = row.location()
    region = row.text("community_code") or row.text("region_code")
    if region is not None and not _REGION.match(region):
        row.error("bad_region", f"region code {region!r} is not 6, 9 or 12 digits")
    elif region is not None and regions and region not in regions:
        row.error("unknown_region", f"region {region} is not in the region table")
    site = row.text("site_name", required=True)
    if row.errors:
        return None
    assert weekday is not None and start is not None and end is not None
    assert location is not None and site is not None
    return StopEntry(
        provider_id,
        weekday,
        clock(start),
        clock(end),
        location[0],
        location[1],
        region,
        site,
    )


def _overlap(stop: StopEntry, earlier: list[StopEntry]) -> str | None:
    """A van is at one place at a time: the message if ``stop`` overlaps an earlier one."""
    for other in earlier:
        if (
            other.weekday == stop.weekday
            and other.start_time < stop.end_time
            and stop.start_time < other.end_time
        ):
            return (
                f"{WEEKDAYS[stop.weekday - 1]} {stop.start_time}-{stop.end_time} overlaps "
                f"{other.start_time}-{other.end_time} at {other.site_name}"
            )
    return None
