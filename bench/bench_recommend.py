"""Benchmark: one person's recommendation against 10,000 providers, p50 and p95 per request.

Generates a registry of 10,000 providers over the synthetic city's 36 × 42 km box (70 % around
60 residential centres, 30 % anywhere). Kinds, the services each kind offers, prices and hours
come from the synthetic city's own tables (carematch/synth/providers.py), so a village clinic
offers what village clinics offer; 1 % are mobile vans with six weekly stops, each stop its own
site. Capability tags, languages, wait days and past ratings are drawn per provider, and a CF
score per provider stands in for carematch/matching/cf.py.

The service map is built once. Then 1,000 random requests (a person somewhere in the city, a
service, languages, the capability the service calls for, a time in the week), each timed end
to end: the geo search (k nearest providers, default 50), the options (each site's hours from
``ServiceMap.site_hours``, the slot from hours and wait days), the engine (scores, Pareto
front, weighted ranking, reason parts) and the rendering of the top ten reason lines in
Chinese. The geo search alone is the baseline, timed on the same requests in the same loop.

Prints one JSON line and rewrites the "recommend" section of docs/benchmarks.md.

Usage: python bench/bench_recommend.py [--providers 10000] [--requests 1000] [--k 50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, update_doc

from carematch.matching.recommend import (
    Demand,
    Option,
    Ratings,
    SatisfactionPrior,
    estimated_earliest_slot,
    format_reason,
    recommend,
)
from carematch.providers.catalogue import CAPABILITIES
from carematch.providers.geo import ServiceMap, Site
from carematch.providers.hours import CITY_TZ, DAY, WeeklyHours, parse_clock, parse_hours

# The synthetic city's own tables: which services each kind offers, prices, hours.
from carematch.synth.providers import _HOURS, _NGOS, _OFFER, _PRICE, _PRICE_FACTOR
from carematch.web.i18n import translations

# The synthetic city (carematch/synth/regions.py): about 36 km east-west, 42 km north-south.
CENTRE = (23.13, 113.30)
HALF_LAT, HALF_LON = 21 / 111.2, 18 / (111.2 * np.cos(np.radians(23.13)))
KINDS = {  # kind: share of providers
    "village_clinic": 0.30,
    "private_clinic": 0.25,
    "health_station": 0.15,
    "community_health_centre": 0.15,
    "township_hospital": 0.08,
    "ngo": 0.04,
    "tertiary_hospital": 0.02,
    "mobile_van": 0.01,
}
KIND_HOURS = {
    "village_clinic": ("village",),
    "private_clinic": ("private",),
    "health_station": ("station",),
    "community_health_centre": ("office_sat", "evening"),
    "township_hospital": ("office_sat", "evening"),
    "ngo": ("ngo", "ngo_weekend"),
    "tertiary_hospital": ("always",),
}
# The capability a demand for a service calls for, where one does.
NEED = {
    "chronic_followup": "elderly_chronic_care",
    "elderly_checkup": "elderly_chronic_care",
    "home_sickbed": "elderly_chronic_care",
    "tb_screening": "tb",
    "hiv_testing": "hiv",
    "mental_counseling": "mental_health",
    "occupational_screening": "occupational_health",
    "prenatal_check": "maternal_child",
    "postnatal_visit": "maternal_child",
    "child_health_check": "maternal_child",
    "vaccination_child": "vaccination",
    "home_rehab": "rehabilitation",
    "rehab_aids": "rehabilitation",
    "emergency_care": "emergency",
    "family_doctor_signing": "family_doctor",
}
LANGUAGE_PREFERENCES = (
    (("zh",), 0.70),
    (("yue", "zh"), 0.24),
    (("ug", "zh"), 0.04),
    (("en",), 0.02),
)
WEEK_START = datetime(2026, 7, 6, tzinfo=CITY_TZ)  # a Monday


@dataclass(frozen=True)
class Profile:
    """What the recommender needs of a provider beyond its sites."""

    capabilities: frozenset[str]
    languages: frozenset[str]
    ratings: Ratings


@dataclass
class City:
    sites: list[Site]
    offers: dict[tuple[str, str], tuple[float, int]]  # (provider, service) → (price, wait days)
    profiles: dict[str, Profile]
    cf: dict[str, float]


def _points(rng: np.random.Generator, centres: np.ndarray, n: int) -> np.ndarray:
    """n points, 70 % within about 1.5 km of a centre, 30 % anywhere in the box."""
    low = np.array([CENTRE[0] - HALF_LAT, CENTRE[1] - HALF_LON])
    high = np.array([CENTRE[0] + HALF_LAT, CENTRE[1] + HALF_LON])
    spread = np.array([1.5 / 111.2, 1.5 / 102.3])
    near = centres[rng.integers(0, len(centres), n)] + rng.normal(size=(n, 2)) * spread
    anywhere = rng.uniform(low, high, size=(n, 2))
    return np.clip(np.where(rng.random((n, 1)) < 0.7, near, anywhere), low, high)


def generate(rng: np.random.Generator, n: int, centres: np.ndarray) -> City:
    """A plausible registry of n providers (see the module docstring)."""
    kinds = rng.choice(list(KINDS), size=n, p=list(KINDS.values()))
    where = _points(rng, centres, n)
    city = City([], {}, {}, {})
    for i in range(n):
        pid, kind = f"PRV{i + 1:05d}", str(kinds[i])
        if kind == "ngo":
            _, _, offered, caps, langs = _NGOS[int(rng.integers(len(_NGOS)))]
            services = list(offered)
            capabilities = frozenset(caps)
            languages = frozenset(langs)
        else:
            services = [c for c, p in _OFFER[kind] if p >= 1 or rng.random() < p]
            capabilities = frozenset(c for c in CAPABILITIES if rng.random() < 0.25)
            languages = frozenset(
                ["zh"]
                + (["yue"] if rng.random() < 0.4 else [])
                + (["en"] if rng.random() < 0.05 else [])
                + (["ug"] if rng.random() < 0.01 else [])
            )
        for code in services:
            price = round(_PRICE[code][0] * _PRICE_FACTOR.get(kind, 1.0), 2)
            city.offers[(pid, code)] = (price, int(rng.geometric(0.5)) - 1)
        rated = int(rng.poisson(25)) if rng.random() < 0.7 else 0
        mean = float(np.clip(rng.normal(4.1, 0.4), 1, 5)) if rated else 0.0
        city.profiles[pid] = Profile(capabilities, languages, Ratings(rated, mean))
        city.cf[pid] = float(rng.beta(2, 5))
        codes = frozenset(services)
        lat, lon = float(where[i, 0]), float(where[i, 1])
        if kind == "mobile_van":
            stops = _points(rng, centres, 6)
            for day in range(6):
                start = "18:30" if day % 2 else "09:00"
                end = "21:00" if day % 2 else "12:00"
                window = WeeklyHours.of(
                    [(day * DAY + parse_clock(start), day * DAY + parse_clock(end))]
                )
                label = f"stop {day + 1}"
                city.sites.append(
                    Site(pid, float(stops[day, 0]), float(stops[day, 1]), window, codes, label)
                )
        else:
            week = parse_hours(_HOURS[str(rng.choice(KIND_HOURS[kind]))])
            city.sites.append(Site(pid, lat, lon, week, codes))
    return city


@dataclass(frozen=True)
class Request:
    demand: Demand


def requests(
    rng: np.random.Generator, n: int, centres: np.ndarray, services: list[str]
) -> list[Request]:
    """n people somewhere in the city asking for a service at a time in the week."""
    where = _points(rng, centres, n)
    prefs = [p for p, _ in LANGUAGE_PREFERENCES]
    weights = [w for _, w in LANGUAGE_PREFERENCES]
    out = []
    for i in range(n):
        service = services[int(rng.integers(len(services)))]
        need = NEED.get(service)
        out.append(
            Request(
                Demand(
                    service=service,
                    lat=float(where[i, 0]),
                    lon=float(where[i, 1]),
                    as_of=WEEK_START + timedelta(seconds=int(rng.integers(7 * DAY))),
                    languages=prefs[int(rng.choice(len(prefs), p=weights))],
                    needs=(need,) if need else (),
                )
            )
        )
    return out


def serve(
    smap: ServiceMap,
    city: City,
    prior: SatisfactionPrior,
    request: Request,
    k: int,
    gettext: Callable[[str], str],
) -> tuple[float, float, int, int]:
    """One request end to end; returns (geo seconds, total seconds, options, front size)."""
    d = request.demand
    t0 = time.perf_counter()
    found = smap.nearest(d.service, d.lat, d.lon, d.as_of, k)
    t1 = time.perf_counter()
    options = []
    for c in found:
        price, wait = city.offers[(c.provider_id, d.service)]
        profile = city.profiles[c.provider_id]
        # The site's hours as a caller gets them: from the map, by the candidate's site.
        hours = smap.site_hours(d.service, c.provider_id, c.lat, c.lon)
        assert hours is not None  # every candidate comes from a site of the map
        options.append(
            Option(
                c.provider_id,
                c.distance_km,
                estimated_earliest_slot(hours, d.as_of, wait),
                price,
                profile.capabilities,
                profile.languages,
                profile.ratings,
            )
        )
    result = recommend(d, options, prior=prior, cf=city.cf)
    for r in result.ranking[:10]:
        format_reason(r.reason, gettext)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t0, len(options), len(result.front)


def _ms(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(values) * 1000, q)), 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    box = (
        [CENTRE[0] - HALF_LAT, CENTRE[1] - HALF_LON],
        [CENTRE[0] + HALF_LAT, CENTRE[1] + HALF_LON],
    )
    centres = rng.uniform(*box, size=(60, 2))
    city = generate(rng, args.providers, centres)
    start = time.perf_counter()
    smap = ServiceMap.build(city.sites)
    build_s = time.perf_counter() - start
    prior = SatisfactionPrior.pooled(p.ratings for p in city.profiles.values())
    services = sorted(smap.services)
    asked = requests(rng, args.requests, centres, services)
    gettext = translations("zh_Hans_CN").gettext

    for request in asked[:50]:  # warm caches and lazy imports; not timed
        serve(smap, city, prior, request, args.k, gettext)
    geo, total, n_options, n_front = [], [], [], []
    for request in asked:
        g, t, o, f = serve(smap, city, prior, request, args.k, gettext)
        geo.append(g)
        total.append(t)
        n_options.append(o)
        n_front.append(f)
    engine = [t - g for g, t in zip(geo, total, strict=True)]

    out = {
        "bench": "recommend",
        "date": date.today().isoformat(),
        "machine": machine(),
        "load_1min": round(os.getloadavg()[0], 1),
        "providers": args.providers,
        "sites": len(city.sites),
        "services": len(services),
        "requests": len(asked),
        "k": args.k,
        "map_build_s": round(build_s, 2),
        "mean_options": round(float(np.mean(n_options)), 1),
        "mean_front": round(float(np.mean(n_front)), 1),
        "p50_ms": _ms(total, 50),
        "p95_ms": _ms(total, 95),
        "max_ms": _ms(total, 100),
        "geo_p50_ms": _ms(geo, 50),
        "geo_p95_ms": _ms(geo, 95),
        "engine_p50_ms": _ms(engine, 50),
        "engine_p95_ms": _ms(engine, 95),
        "target_p95_ms": 50,
    }
    print(json.dumps(out, sort_keys=True))
    if not args.no_doc:
        update_doc("recommend", out, _table(out))


def _table(r: dict) -> str:
    return "\n".join(
        [
            f"### Recommendation, {r['providers']:,} providers ({r['date']}, {r['machine']})",
            "",
            f"{r['requests']:,} random requests over {r['services']} services; "
            f"{r['sites']:,} sites (vans' weekly stops included); k = {r['k']} nearest providers "
            f"per request, {r['mean_options']} on average, {r['mean_front']} of them on the "
            f"Pareto front. Service map built once in {r['map_build_s']} s.",
            "",
            "| per request | p50 | p95 |",
            "|---|---|---|",
            f"| geo candidates + slots + scores + Pareto front + weighted ranking + ten reason "
            f"lines (zh) | {r['p50_ms']} ms | {r['p95_ms']} ms |",
            f"| of which the engine (options, scoring, front, ranking, reasons) "
            f"| {r['engine_p50_ms']} ms | {r['engine_p95_ms']} ms |",
            f"| baseline: geo search alone (`ServiceMap.nearest`, same requests) "
            f"| {r['geo_p50_ms']} ms | {r['geo_p95_ms']} ms |",
            "",
            f"Target (issue 4): p95 under {r['target_p95_ms']} ms with 10,000 providers. "
            f"Machine shared with other work (1-minute load {r['load_1min']}).",
        ]
    )


if __name__ == "__main__":
    main()
