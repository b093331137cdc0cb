"""The service map's search engine: nearest providers offering a service, open or opening when.

A pure engine (no database, no web framework): build a :class:`ServiceMap` once from
:class:`Site` values and query it per request. One scikit-learn ``BallTree`` (haversine metric)
per service holds every place where that service is given: a fixed provider's address, and
each weekly stop of a mobile service van (流动服务车) — a van serves at the stop's location only
during the stop's window, so each stop is its own site with its own hours.

A query returns at most ``k`` distinct providers, nearest first; a provider with several sites
(a van) appears once, at its nearest qualifying site. Distances are great-circle kilometres on a
sphere of the IUGG mean Earth radius.

Examples:
    >>> from datetime import datetime
    >>> from carematch.providers.hours import parse_hours
    >>> tb = frozenset({"tb_screening"})
    >>> smap = ServiceMap.build([
    ...     Site("P1", 23.10, 113.30, parse_hours("Mo-Fr 08:00-17:00"), tb),
    ...     Site("P2", 23.20, 113.30, parse_hours("24/7"), tb),
    ... ])
    >>> saturday = datetime(2026, 7, 4, 10)
    >>> [c.provider_id for c in smap.nearest("tb_screening", 23.10, 113.30, saturday)]
    ['P1', 'P2']
    >>> [c.provider_id for c in smap.nearest("tb_screening", 23.1, 113.3, saturday, open_only=True)]
    ['P2']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sklearn.neighbors import BallTree

from carematch.providers.hours import WeeklyHours, to_city_time, week_second

# IUGG mean Earth radius (R1), the usual choice for haversine distances.
EARTH_RADIUS_KM = 6371.0088


@dataclass(frozen=True)
class Site:
    """A place where a provider serves, with the services given there and when it is open.

    A fixed provider is one site; a van is one site per weekly stop.
    """

    provider_id: str
    lat: float
    lon: float
    hours: WeeklyHours
    services: frozenset[str]
    label: str | None = None  # a van stop's site name (农贸市场, 园区大门 …)


@dataclass(frozen=True)
class Candidate:
    """One answer: a provider at a site, how far, and whether it is open at the asked time.

    ``next_open`` is set only when closed (None if it never opens); ``closes_at`` only when
    open and not 24/7. Times are city time (UTC+8), aware.
    """

    provider_id: str
    distance_km: float
    lat: float
    lon: float
    open_now: bool
    next_open: datetime | None
    closes_at: datetime | None
    label: str | None


def haversine_km(lat1: float, lon1: float, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km from one point to many (the reference for the tree).

    Args:
        lat1, lon1: the origin in degrees.
        lat2, lon2: arrays of destinations in degrees.
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(np.asarray(lon2) - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class _ServiceIndex:
    """The sites of one service: a BallTree over them plus flat arrays of their open intervals."""

    def __init__(self, sites: list[Site]) -> None:
        self.sites = sites
        self.lat = np.array([s.lat for s in sites], dtype=np.float64)
        self.lon = np.array([s.lon for s in sites], dtype=np.float64)
        coords = np.radians(np.column_stack([self.lat, self.lon]))
        self.tree = BallTree(coords, metric="haversine")
        ids = np.array([s.provider_id for s in sites])
        self.rank = np.unique(ids, return_inverse=True)[1]  # provider-id order, for ties
        # Every open interval of every site, flat, so "which sites are open at T" is one
        # vectorised comparison rather than a Python loop over thousands of sites.
        owner, starts, ends = [], [], []
        for i, site in enumerate(sites):
            for start, end in site.hours.intervals:
                owner.append(i)
                starts.append(start)
                ends.append(end)
        self.owner = np.array(owner, dtype=np.int64)
        self.starts = np.array(starts, dtype=np.int64)
        self.ends = np.array(ends, dtype=np.int64)
        # A van may stop at the same place on several days: its hours there are the union.
        spans: dict[tuple[str, float, float], list[tuple[int, int]]] = {}
        for s in sites:
            spans.setdefault((s.provider_id, s.lat, s.lon), []).extend(s.hours.intervals)
        self.hours_at = {key: WeeklyHours.of(parts) for key, parts in spans.items()}

    def open_mask(self, second: int) -> np.ndarray:
        """Which sites are open at ``second`` of the week."""
        mask = np.zeros(len(self.sites), dtype=bool)
        hit = (self.starts <= second) & (second < self.ends)
        mask[self.owner[hit]] = True
        return mask


class ServiceMap:
    """Built once from the registry, queried per request; immutable after :meth:`build`."""

    def __init__(self, indexes: dict[str, _ServiceIndex]) -> None:
        self._indexes = indexes

    @classmethod
    def build(cls, sites: Iterable[Site]) -> ServiceMap:
        """Index every site under each service it gives.

        Raises:
            ValueError: a site with a latitude or longitude outside the globe.
        """
        by_service: dict[str, list[Site]] = {}
        for site in sites:
            if not (-90 <= site.lat <= 90 and -180 <= site.lon <= 180):
                raise ValueError(f"site of {site.provider_id} at ({site.lat}, {site.lon})")
            for code in site.services:
                by_service.setdefault(code, []).append(site)
        return cls({code: _ServiceIndex(s) for code, s in by_service.items()})

    @property
    def services(self) -> frozenset[str]:
        """Service codes with at least one site."""
        return frozenset(self._indexes)

    def site_hours(
        self, service: str, provider_id: str, lat: float, lon: float
    ) -> WeeklyHours | None:
        """The weekly hours of a provider's site for a service (a candidate's ``lat``/``lon``).

        The recommender derives the earliest slot from them; None when there is no such site.
        """
        index = self._indexes.get(service)
        return index.hours_at.get((provider_id, lat, lon)) if index else None

    def site_count(self, service: str) -> int:
        """How many sites give ``service``."""
        index = self._indexes.get(service)
        return len(index.sites) if index else 0

    def nearest(
        self,
        service: str,
        lat: float,
        lon: float,
        at: datetime,
        k: int = 10,
        *,
        open_only: bool = False,
        max_km: float | None = None,
    ) -> list[Candidate]:
        """The ``k`` nearest providers giving ``service`` from a point, with their hours at ``at``.

        Args:
            service: a service code; an unknown code simply has no sites.
            lat, lon: the resident's point, degrees (WGS 84).
            at: the time asked about; naive means city time.
            k: how many distinct providers at most.
            open_only: keep only sites open at ``at`` (a van only at a stop it is at now).
            max_km: drop candidates farther than this.

        Returns:
            Candidates sorted by distance (ties by provider id), at most ``k``.
        """
        index = self._indexes.get(service)
        if index is None or k <= 0:
            return []
        local = to_city_time(at).replace(microsecond=0)
        second = week_second(local)
        mask = index.open_mask(second) if open_only else None
        eligible = int(mask.sum()) if mask is not None else len(index.sites)
        if mask is not None and eligible * 4 <= len(index.sites):
            # Few sites open now (night, Sunday): scanning those few exactly is cheaper than
            # walking the tree past every closed one.
            rows = np.flatnonzero(mask)
            dists = haversine_km(lat, lon, index.lat[rows], index.lon[rows]) / EARTH_RADIUS_KM
            if max_km is not None:
                near = dists * EARTH_RADIUS_KM <= max_km
                rows, dists = rows[near], dists[near]
            picked = self._pick(index, rows, dists, None, k)
            return [self._candidate(index.sites[r], d, local, second) for r, d in picked]
        point = np.radians([[lat, lon]])
        # Ask the tree for a few more sites than k (vans repeat, closed sites are skipped) and
        # widen until k providers are found or every eligible site has been seen.
        want = min(len(index.sites), 2 * k + 8)
        while True:
            if max_km is not None:
                found = index.tree.query_radius(
                    point, r=max_km / EARTH_RADIUS_KM, return_distance=True, sort_results=True
                )
                rows, dists = found[0][0], found[1][0]
            else:
                d, r = index.tree.query(point, k=want)
                rows, dists = r[0], d[0]
            picked = self._pick(index, rows, dists, mask, k)
            seen_all = max_km is not None or want >= len(index.sites)
            if len(picked) >= k or seen_all or len(picked) >= eligible:
                break
            want = min(len(index.sites), want * 4)
        return [self._candidate(index.sites[row], dist, local, second) for row, dist in picked]

    @staticmethod
    def _pick(
        index: _ServiceIndex,
        rows: np.ndarray,
        dists: np.ndarray,
        mask: np.ndarray | None,
        k: int,
    ) -> list[tuple[int, float]]:
        """The first ``k`` distinct providers among sites sorted by distance."""
        if mask is not None:
            keep = mask[rows]
            rows, dists = rows[keep], dists[keep]
        # Equal distances are ordered by provider id, so answers do not depend on load order.
        order = np.lexsort((index.rank[rows], dists))
        seen: set[str] = set()
        picked: list[tuple[int, float]] = []
        for j in order:
            row = int(rows[j])
            pid = index.sites[row].provider_id
            if pid in seen:
                continue
            seen.add(pid)
            picked.append((row, float(dists[j]) * EARTH_RADIUS_KM))
            if len(picked) == k:
                break
        return picked

    @staticmethod
    def _candidate(site: Site, distance_km: float, local: datetime, second: int) -> Candidate:
        until_open = site.hours.seconds_until_open(second)
        is_open = until_open == 0
        until_close = site.hours.seconds_until_close(second) if is_open else None
        return Candidate(
            provider_id=site.provider_id,
            distance_km=distance_km,
            lat=site.lat,
            lon=site.lon,
            open_now=is_open,
            next_open=(local + timedelta(seconds=until_open)) if until_open else None,
            closes_at=(local + timedelta(seconds=until_close)) if until_close else None,
            label=site.label,
        )
