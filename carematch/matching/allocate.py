"""Exact allocation of demands to providers under capacity (按容量精准分配).

Each demand (a person who needs a service, 需求) goes to at most one provider row that offers the
same service within ``max_km``, and no provider row takes more demands than its capacity. The
objective is lexicographic:

1. assign as many demands as possible;
2. among all assignments of that size, minimise Σ ``distance_km + wait_weight × wait_days``.

**Providers and services.** A provider that offers several services has one row per
(provider, service), each with its own location, capacity and wait; capacities are per row, so a
clinic with 40 vaccination and 10 prenatal slots is two rows. The same provider listed twice for
one service is an error, as is a demand id used twice. A row with capacity 0 is valid (a
provider with no free slots this period) and simply receives nobody.

**Distance.** Great-circle distance by the haversine formula on a sphere of radius
6371.0088 km, the IUGG mean Earth radius R₁ = (2a + b) / 3 of WGS 84. Against the ellipsoid the
sphere is off by at most about 0.5 %, far below what separates one clinic from the next; the
same formula decides "within ``max_km``" and the distance written out, so the two never disagree.

**Candidates.** One BallTree (haversine metric) per service over that service's providers; each
demand asks for the providers within ``max_km``. The demand × provider matrix is never built:
time and memory grow with the pairs within reach, not with demands × providers.

**Exactness.** The candidates form a network: source → demand (1) → provider (1 per pair) → sink
(capacity). OR-Tools' ``SimpleMinCostFlow.solve_max_flow_with_min_cost`` computes the maximum
flow first (the most demands that can be served at all), then a minimum-cost flow of exactly
that value: the two objectives in their order, with no big-M constant to size and overflow.
Network flows with integer capacities have integral optimal solutions, so the flow is an
assignment; the result is an optimum, not a heuristic's guess.

**Integer costs.** The solver works in integers: each pair's cost is rounded to units of
1 / ``units_per_km`` km (default 10⁶: one millimetre). Rounding moves each cost by at most half a
unit, so with c the true and c' the rounded costs, x' our optimum and x* the true one, both of k
assigned demands: c(x') ≤ c'(x') + k/2u ≤ c'(x*) + k/2u ≤ c(x*) + k/u. The allocation is
therefore at most k millimetres worse than the true optimum, which is within 0.1 % whenever the
optimum averages at least 1 m per assigned demand (``Allocation.cost_error_bound_km``). OR-Tools'
cost scaling needs (largest cost + 1) × (nodes + 1) < 2⁶³; the scale drops by factors of ten
until it fits with a 2× margin, which real input never needs (10 km plus half a year's wait is
2·10⁸ units). Capacities are capped at the number of candidate demands, so flows stay small.

**Ties.** Pairs enter the solver sorted by (demand row, provider row) and the solver is
deterministic, so the same input gives the same allocation, byte for byte.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
from ortools.graph.python import min_cost_flow
from sklearn.neighbors import BallTree

from carematch.matching.errors import AllocationFailed, AllocationInputRejected

EARTH_RADIUS_KM = 6371.0088
"""IUGG mean Earth radius (km) used by every distance in allocation."""

UNITS_PER_KM = 1_000_000
"""Default integer cost units per km-equivalent of cost: one unit is a millimetre."""

DEFAULT_MAX_KM = 10.0
DEFAULT_WAIT_WEIGHT = 0.5

# Half of int64's range: OR-Tools' own check allows (max cost + 1) × (nodes + 1) < 2⁶³.
_COST_LIMIT = 2**62

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TextArray = npt.NDArray[np.object_]

DEMAND_COLUMNS = ("demand_id", "service", "lat", "lon")
PROVIDER_COLUMNS = ("provider_id", "service", "lat", "lon", "capacity", "wait_days")


class Assignment(NamedTuple):
    """One demand's outcome: its provider and distance, or None for both when unassigned."""

    demand_id: str
    provider_id: str | None
    distance_km: float | None


def haversine_km(
    lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike
) -> FloatArray:
    """Great-circle distance in km between points given in degrees (haversine, R = 6371.0088)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    # Rounding can push h a hair past 1 for antipodal points; arcsin would return NaN.
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


# --- input tables -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Names rows in messages: 'D.csv line 7' for a file, 'demands item 7' for a list."""

    source: str
    first_line: int | None

    def label(self, i: int, key: str = "") -> str:
        where = (
            f"{self.source} line {i + self.first_line}"
            if self.first_line is not None
            else f"{self.source} item {i + 1}"
        )
        return f"{where} ({key})" if key else where

    def reject(self, i: int, key: str, problem: str) -> AllocationInputRejected:
        where = i + self.first_line if self.first_line is not None else i + 1
        return AllocationInputRejected(
            f"{self.label(i, key)}: {problem}", source=self.source, row=where
        )


def _texts(values: Sequence[Any], column: str, rows: _Rows, keys: TextArray | None) -> TextArray:
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        missing = value is None or (isinstance(value, float) and math.isnan(value))
        text = "" if missing else str(value).strip()
        if not text:
            raise rows.reject(i, "" if keys is None else keys[i], f"{column} is empty")
        out[i] = text
    return out


def _numbers(values: Sequence[Any], column: str, rows: _Rows, keys: TextArray) -> FloatArray:
    parsed = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce")
    numbers = parsed.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(numbers))
    if bad.size:
        i = int(bad[0])
        raise rows.reject(i, keys[i], f"{column} must be a finite number, got {values[i]!r}")
    return numbers


def _within(
    numbers: FloatArray, low: float, high: float, column: str, rows: _Rows, keys: TextArray
) -> None:
    bad = np.flatnonzero((numbers < low) | (numbers > high))
    if bad.size:
        i = int(bad[0])
        raise rows.reject(i, keys[i], f"{column} {numbers[i]:g} is outside [{low:g}, {high:g}]")


def _same_length(columns: Mapping[str, Sequence[Any]], source: str) -> int:
    lengths = {name: len(values) for name, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise AllocationInputRejected(f"{source}: columns differ in length: {lengths}")
    return next(iter(lengths.values()), 0)


@dataclass(frozen=True, eq=False)
class Demands:
    """Demands to place (需求): an id, the service needed and where the person is (degrees)."""

    ids: TextArray
    service: TextArray
    lat: FloatArray
    lon: FloatArray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_columns(
        cls,
        demand_id: Sequence[Any],
        service: Sequence[Any],
        lat: Sequence[Any],
        lon: Sequence[Any],
        *,
        source: str = "demands",
        first_line: int | None = None,
    ) -> Demands:
        """Validate columns into a table; a bad value raises AllocationInputRejected naming its row.

        Args:
            source: how messages name the input (a file name, or "demands").
            first_line: the file line of the first row (2 under a header); None numbers items.
        """
        _same_length({"demand_id": demand_id, "service": service, "lat": lat, "lon": lon}, source)
        rows = _Rows(source, first_line)
        ids = _texts(demand_id, "demand_id", rows, None)
        keys = np.array([f"demand_id {x!r}" for x in ids], dtype=object)
        services = _texts(service, "service", rows, keys)
        lats = _numbers(lat, "lat", rows, keys)
        lons = _numbers(lon, "lon", rows, keys)
        _within(lats, -90, 90, "lat", rows, keys)
        _within(lons, -180, 180, "lon", rows, keys)
        seen = pd.Series(ids).duplicated(keep="first").to_numpy()
        if seen.any():
            i = int(np.flatnonzero(seen)[0])
            first = int(np.flatnonzero(ids == ids[i])[0])
            raise rows.reject(i, keys[i], f"demand_id is already used by {rows.label(first)}")
        return cls(ids, services, lats, lons)

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], *, source: str = "demands"
    ) -> Demands:
        """Validate mappings with keys demand_id, service, lat, lon (e.g. a cohort's rows)."""
        items = list(records)
        missing = [c for c in DEMAND_COLUMNS if items and any(c not in r for r in items)]
        if missing:
            raise AllocationInputRejected(f"{source}: every demand needs {', '.join(missing)}")
        cols = [[r[c] for r in items] for c in DEMAND_COLUMNS]
        return cls.from_columns(*cols, source=source)


@dataclass(frozen=True, eq=False)
class Providers:
    """Provider rows (服务机构): one per (provider, service), with its own capacity and wait."""

    ids: TextArray
    service: TextArray
    lat: FloatArray
    lon: FloatArray
    capacity: IntArray
    wait_days: FloatArray

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_columns(
        cls,
        provider_id: Sequence[Any],
        service: Sequence[Any],
        lat: Sequence[Any],
        lon: Sequence[Any],
        capacity: Sequence[Any],
        wait_days: Sequence[Any],
        *,
        source: str = "providers",
        first_line: int | None = None,
    ) -> Providers:
        """Validate columns into a table; a bad value raises AllocationInputRejected naming its row.

        Capacity must be a whole number ≥ 0 and wait_days a number ≥ 0; (provider_id, service)
        must be unique, since capacity is per row.
        """
        columns = {
            "provider_id": provider_id,
            "service": service,
            "lat": lat,
            "lon": lon,
            "capacity": capacity,
            "wait_days": wait_days,
        }
        _same_length(columns, source)
        rows = _Rows(source, first_line)
        ids = _texts(provider_id, "provider_id", rows, None)
        keys = np.array([f"provider_id {x!r}" for x in ids], dtype=object)
        services = _texts(service, "service", rows, keys)
        keys = np.array(
            [f"provider_id {x!r}, service {s!r}" for x, s in zip(ids, services, strict=True)],
            dtype=object,
        )
        lats = _numbers(lat, "lat", rows, keys)
        lons = _numbers(lon, "lon", rows, keys)
        _within(lats, -90, 90, "lat", rows, keys)
        _within(lons, -180, 180, "lon", rows, keys)
        caps = _numbers(capacity, "capacity", rows, keys)
        # 2⁵³: beyond it a float no longer holds every whole number exactly.
        bad = np.flatnonzero((caps < 0) | (caps != np.floor(caps)) | (caps > 2.0**53))
        if bad.size:
            i = int(bad[0])
            raise rows.reject(
                i, keys[i], f"capacity must be a whole number ≥ 0, got {capacity[i]!r}"
            )
        waits = _numbers(wait_days, "wait_days", rows, keys)
        bad = np.flatnonzero(waits < 0)
        if bad.size:
            i = int(bad[0])
            raise rows.reject(i, keys[i], f"wait_days must be ≥ 0, got {wait_days[i]!r}")
        frame = pd.DataFrame({"id": ids, "service": services})
        twice = frame.duplicated(keep="first").to_numpy()
        if twice.any():
            i = int(np.flatnonzero(twice)[0])
            first = int(np.flatnonzero((ids == ids[i]) & (services == services[i]))[0])
            raise rows.reject(
                i,
                keys[i],
                f"this provider is listed twice for the same service (also {rows.label(first)});"
                " give one row per (provider, service)",
            )
        return cls(ids, services, lats, lons, caps.astype(np.int64), waits)

    @classmethod
    def from_records(
        cls, records: Iterable[Mapping[str, Any]], *, source: str = "providers"
    ) -> Providers:
        """Validate mappings with keys provider_id, service, lat, lon, capacity, wait_days."""
        items = list(records)
        missing = [c for c in PROVIDER_COLUMNS if items and any(c not in r for r in items)]
        if missing:
            raise AllocationInputRejected(f"{source}: every provider needs {', '.join(missing)}")
        cols = [[r[c] for r in items] for c in PROVIDER_COLUMNS]
        return cls.from_columns(*cols, source=source)


# --- candidates ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CandidatePairs:
    """Same-service (demand row, provider row) pairs within reach, by demand then provider."""

    demand: IntArray
    provider: IntArray
    distance_km: FloatArray

    def __len__(self) -> int:
        return len(self.demand)


def candidate_pairs(demands: Demands, providers: Providers, max_km: float) -> CandidatePairs:
    """Every same-service pair within max_km whose provider has capacity, found per service.

    A BallTree per service answers "providers within r" without the full distance matrix; the
    haversine formula above then decides membership, so the tree's own rounding never does.
    """
    by_service: dict[str, list[int]] = {}
    for j in np.flatnonzero(providers.capacity > 0):
        by_service.setdefault(providers.service[j], []).append(int(j))
    demand_parts, provider_parts = [], []
    # The tree's radius is a hair wider than max_km so that boundary pairs reach our check.
    radius = max_km / EARTH_RADIUS_KM * (1 + 1e-9) + 1e-12
    for service, members in sorted(by_service.items()):
        rows = np.flatnonzero(demands.service == service)
        if not rows.size:
            continue
        cols = np.asarray(members, dtype=np.int64)
        tree = BallTree(
            np.radians(np.c_[providers.lat[cols], providers.lon[cols]]), metric="haversine"
        )
        found = tree.query_radius(np.radians(np.c_[demands.lat[rows], demands.lon[rows]]), r=radius)
        counts = np.fromiter((len(f) for f in found), dtype=np.int64, count=len(found))
        if counts.sum() == 0:
            continue
        demand_parts.append(np.repeat(rows, counts))
        provider_parts.append(cols[np.concatenate(found)])
    if not demand_parts:
        empty = np.empty(0, dtype=np.int64)
        return CandidatePairs(empty, empty, np.empty(0, dtype=np.float64))
    demand = np.concatenate(demand_parts).astype(np.int64)
    provider = np.concatenate(provider_parts).astype(np.int64)
    distance = haversine_km(
        demands.lat[demand], demands.lon[demand], providers.lat[provider], providers.lon[provider]
    )
    keep = distance <= max_km
    demand, provider, distance = demand[keep], provider[keep], distance[keep]
    order = np.lexsort((provider, demand))
    return CandidatePairs(demand[order], provider[order], distance[order])


# --- allocation ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Allocation:
    """The outcome for every demand, in input order, and what it cost.

    ``provider_row[i]`` is the provider row demand i was given, -1 when unassigned;
    ``distance_km[i]`` is NaN when unassigned. ``cost`` is Σ distance_km + wait_weight ×
    wait_days over assigned demands, computed from the unrounded values.
    """

    demands: Demands
    providers: Providers
    provider_row: IntArray
    distance_km: FloatArray
    cost: float
    candidate_pairs: int
    units_per_km: float

    @property
    def assigned(self) -> int:
        """How many demands got a provider."""
        return int((self.provider_row >= 0).sum())

    @property
    def cost_error_bound_km(self) -> float:
        """How far above the true optimum the cost can be, from rounding costs to integers."""
        return self.assigned / self.units_per_km

    def provider_ids(self) -> TextArray:
        """Each demand's provider id, "" when unassigned."""
        out = np.full(len(self.provider_row), "", dtype=object)
        hit = self.provider_row >= 0
        out[hit] = self.providers.ids[self.provider_row[hit]]
        return out

    def assignments(self) -> list[Assignment]:
        """One Assignment per demand, in input order (for an app building proposed bookings)."""
        ids = self.provider_ids()
        return [
            Assignment(str(d), str(p), float(km)) if r >= 0 else Assignment(str(d), None, None)
            for d, p, km, r in zip(
                self.demands.ids, ids, self.distance_km, self.provider_row, strict=True
            )
        ]

    def load(self) -> IntArray:
        """How many demands each provider row received."""
        hit = self.provider_row[self.provider_row >= 0]
        return np.bincount(hit, minlength=len(self.providers)).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """Counts and costs as plain numbers (the CLI prints this)."""
        hit = self.provider_row >= 0
        return {
            "demands": len(self.demands),
            "providers": len(self.providers),
            "assigned": self.assigned,
            "unassigned": len(self.demands) - self.assigned,
            "capacity": int(self.providers.capacity.sum()),
            "candidate_pairs": self.candidate_pairs,
            "cost": round(self.cost, 6),
            "distance_km": round(float(self.distance_km[hit].sum()), 6),
        }


def _check_parameters(max_km: float, wait_weight: float) -> None:
    if not (math.isfinite(max_km) and max_km > 0):
        raise AllocationInputRejected(f"max-km must be a finite number > 0, got {max_km}")
    if not (math.isfinite(wait_weight) and wait_weight >= 0):
        raise AllocationInputRejected(f"wait-weight must be a finite number ≥ 0, got {wait_weight}")


def _pair_costs(pairs: CandidatePairs, providers: Providers, wait_weight: float) -> FloatArray:
    cost = pairs.distance_km + wait_weight * providers.wait_days[pairs.provider]
    if not np.isfinite(cost).all():
        raise AllocationInputRejected("wait-weight × wait_days is too large to add up")
    return np.asarray(cost, dtype=np.float64)


def _units_per_km(largest_cost: float, nodes: int, wanted: float) -> float:
    """The finest scale ≤ wanted (in powers of ten) at which OR-Tools' costs cannot overflow."""
    units = float(wanted)
    while (largest_cost * units + 1) * (nodes + 1) >= _COST_LIMIT:
        units /= 10
    return units


def _result(
    demands: Demands,
    providers: Providers,
    pairs: CandidatePairs,
    chosen: npt.NDArray[np.bool_],
    cost: FloatArray,
    units: float,
) -> Allocation:
    provider_row = np.full(len(demands), -1, dtype=np.int64)
    distance = np.full(len(demands), np.nan)
    provider_row[pairs.demand[chosen]] = pairs.provider[chosen]
    distance[pairs.demand[chosen]] = pairs.distance_km[chosen]
    return Allocation(
        demands,
        providers,
        provider_row,
        distance,
        float(cost[chosen].sum()),
        len(pairs),
        units,
    )


def allocate(
    demands: Demands,
    providers: Providers,
    *,
    max_km: float = DEFAULT_MAX_KM,
    wait_weight: float = DEFAULT_WAIT_WEIGHT,
    units_per_km: float = UNITS_PER_KM,
) -> Allocation:
    """Assign demands to providers optimally: most demands first, then least total cost.

    See the module docstring for the model, the proof of exactness and the rounding bound.

    Args:
        max_km: the farthest a demand may be sent (great-circle km).
        wait_weight: km-equivalents one day of waiting costs.
        units_per_km: integer cost units per km (tests use coarse scales to check the bound).

    Raises:
        AllocationInputRejected: a parameter is out of range.
        AllocationFailed: the solver did not report an optimum (a defect, never expected).
    """
    _check_parameters(max_km, wait_weight)
    if not (math.isfinite(units_per_km) and units_per_km > 0):
        raise AllocationInputRejected(f"units_per_km must be > 0, got {units_per_km}")
    pairs = candidate_pairs(demands, providers, max_km)
    cost = _pair_costs(pairs, providers, wait_weight)
    if not len(pairs):
        return _result(demands, providers, pairs, np.zeros(0, dtype=bool), cost, units_per_km)

    # Only demands and providers with a candidate pair become nodes.
    used_demands, demand_node = np.unique(pairs.demand, return_inverse=True)
    used_providers, provider_node = np.unique(pairs.provider, return_inverse=True)
    first_provider = len(used_demands)
    nodes = first_provider + len(used_providers) + 2  # +2: the solver's own source and sink
    units = _units_per_km(float(cost.max()), nodes, units_per_km)
    unit_costs = np.rint(cost * units).astype(np.int64)
    # A provider never takes more than its candidates, so capacity beyond that is moot and
    # capping it keeps every flow quantity ≤ the number of demands.
    reachable = np.bincount(provider_node, minlength=len(used_providers))
    capacity = np.minimum(providers.capacity[used_providers], reachable).astype(np.int64)

    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        demand_node.astype(np.int32),
        (first_provider + provider_node).astype(np.int32),
        np.ones(len(pairs), dtype=np.int64),
        unit_costs,
    )
    flow.set_nodes_supplies(
        np.arange(first_provider + len(used_providers), dtype=np.int32),
        np.concatenate([np.ones(first_provider, dtype=np.int64), -capacity]),
    )
    status = flow.solve_max_flow_with_min_cost()
    if status != flow.OPTIMAL:
        raise AllocationFailed(f"min-cost flow ended with status {status.name}")
    chosen = flow.flows(np.arange(len(pairs), dtype=np.int32)) > 0
    return _result(demands, providers, pairs, chosen, cost, units)


def allocate_greedy_nearest(
    demands: Demands,
    providers: Providers,
    *,
    max_km: float = DEFAULT_MAX_KM,
    wait_weight: float = DEFAULT_WAIT_WEIGHT,
) -> Allocation:
    """Baseline: each demand in input order takes the nearest provider with capacity left.

    What a grid worker does by hand; benchmarks report it beside the optimum. Ties in distance
    go to the lower provider row.
    """
    _check_parameters(max_km, wait_weight)
    pairs = candidate_pairs(demands, providers, max_km)
    cost = _pair_costs(pairs, providers, wait_weight)
    order = np.lexsort((pairs.provider, pairs.distance_km, pairs.demand))
    nearest_first = pairs.provider[order]
    starts = np.searchsorted(pairs.demand[order], np.arange(len(demands) + 1))
    left = providers.capacity.copy()
    chosen = np.zeros(len(pairs), dtype=bool)
    for i in range(len(demands)):
        lo, hi = starts[i], starts[i + 1]
        if lo == hi:
            continue
        free = np.flatnonzero(left[nearest_first[lo:hi]] > 0)
        if free.size:
            k = lo + int(free[0])
            left[nearest_first[k]] -= 1
            chosen[order[k]] = True
    return _result(demands, providers, pairs, chosen, cost, UNITS_PER_KM)


def allocate_cohort(
    demands: Iterable[Mapping[str, Any]],
    providers: Iterable[Mapping[str, Any]],
    *,
    max_km: float = DEFAULT_MAX_KM,
    wait_weight: float = DEFAULT_WAIT_WEIGHT,
) -> list[Assignment]:
    """Allocate a cohort given as plain rows; one Assignment per demand, in input order.

    The app's entry point (officials allocating, say, every migrant child with overdue doses in
    a district): the same engine as the CLI. Demands need demand_id, service, lat, lon;
    providers need provider_id, service, lat, lon, capacity, wait_days.
    """
    table = Demands.from_records(demands)
    offer = Providers.from_records(providers)
    return allocate(table, offer, max_km=max_km, wait_weight=wait_weight).assignments()
