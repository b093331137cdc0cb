"""Childhood vaccination histories generated from the national immunization schedule file.

The schedule (``carematch/data/nip_schedule.yaml``) is data: this module reads its series,
doses, ages, intervals, ``after`` constraints and live-vaccine spacing, and gives every child
doses that are valid under the file's semantics, on time or a little late. A quota of children
(migrants 15 %, locals 5 %, in the 0-6 and 7-14 age bands separately) then has one dose, or a
whole visit, missing while already overdue — the city's "vaccination miss rate".
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from carematch.synth.dates import AS_OF_D, add_duration, parse_duration
from carematch.synth.sampling import quota

MISS_SHARE = {True: 0.15, False: 0.05}
"""Share of children with at least one overdue dose on AS_OF, for migrants and locals."""

AGE_BANDS = ((0, 6), (7, 14))
LIVE_SPACING_DAYS = 28


@dataclass(frozen=True)
class Dose:
    """One dose of one series, with its timing rules (durations as (years, months, days))."""

    series: int
    number: int
    age: tuple[int, int, int]
    min_age: tuple[int, int, int]
    min_interval: tuple[int, int, int] | None
    overdue_after: tuple[int, int, int]
    after: tuple[tuple[int, int | None, tuple[int, int, int]], ...]  # (series, dose|None=last, gap)


@dataclass(frozen=True)
class Schedule:
    """The parsed schedule: series codes, which are live injectables, their max ages and doses."""

    codes: tuple[str, ...]
    live_injectable: tuple[bool, ...]
    max_age: tuple[tuple[int, int, int], ...]
    doses: tuple[Dose, ...]


def load_schedule(text: str | None = None) -> Schedule:
    """Parse the schedule YAML (the packaged file when ``text`` is None)."""
    if text is None:
        text = resources.files("carematch.data").joinpath("nip_schedule.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    codes = tuple(s["code"] for s in data["series"])
    live, max_age, doses = [], [], []
    for index, series in enumerate(data["series"]):
        live.append(bool(series.get("live")) and series.get("injectable", True))
        max_age.append(parse_duration(series["max_age"]))
        for d in series["doses"]:
            after = tuple(
                (
                    codes.index(a["series"]),
                    None if a["dose"] == "last" else int(a["dose"]),
                    parse_duration(a["interval"]),
                )
                for a in d.get("after", [])
            )
            doses.append(
                Dose(
                    series=index,
                    number=int(d["dose"]),
                    age=parse_duration(d["age"]),
                    min_age=parse_duration(d.get("min_age", d["age"])),
                    min_interval=parse_duration(d["min_interval"]) if "min_interval" in d else None,
                    overdue_after=parse_duration(d["overdue_after"]),
                    after=after,
                )
            )
    return Schedule(codes, tuple(live), tuple(max_age), tuple(doses))


def _approx_days(duration: tuple[int, int, int]) -> int:
    years, months, days = duration
    return years * 366 + months * 31 + days


@dataclass
class Histories:
    """Doses given (one row per dose) plus each child's miss status."""

    child: np.ndarray  # index into the children array
    series: np.ndarray
    number: np.ndarray
    date: np.ndarray
    missed: np.ndarray  # per child
    doses_overdue: np.ndarray  # per child: series whose next dose is overdue


def generate_histories(
    rng: np.random.Generator,
    schedule: Schedule,
    birth: np.ndarray,
    migrant: np.ndarray,
    age: np.ndarray,
) -> Histories:
    """Vaccination histories for children born on ``birth`` (``datetime64[D]``).

    Doses are grouped into visits by their nominal age; a visit happens at the latest of every
    constraint of its doses (age, interval after the previous dose, ``after`` rules, 28 days
    after another live injectable) plus a delay, but always before any of its doses would be
    overdue. Doses whose visit falls after AS_OF are simply not given yet.
    """
    n, k = birth.size, len(schedule.doses)
    nat = np.datetime64("NaT")
    given = np.full((n, k), nat, dtype="datetime64[D]")
    overdue_at = np.stack([add_duration(birth, *d.overdue_after) for d in schedule.doses], axis=1)
    max_age_at = np.stack(
        [add_duration(birth, *schedule.max_age[d.series]) for d in schedule.doses], axis=1
    )
    index_of = {(d.series, d.number): i for i, d in enumerate(schedule.doses)}
    series_doses = {
        s: [i for i, d in enumerate(schedule.doses) if d.series == s]
        for s in range(len(schedule.codes))
    }
    visits: dict[tuple[int, int, int], list[int]] = {}
    for i, d in enumerate(schedule.doses):
        visits.setdefault(d.age, []).append(i)
    # Migrant families are later on average (work shifts, moves between cities).
    mean_delay = np.where(migrant, 14.0, 5.0)
    last_live = np.full(n, nat, dtype="datetime64[D]")
    for age_key in sorted(visits, key=_approx_days):
        members = visits[age_key]
        earliest = np.full(n, np.datetime64("1900-01-01"), dtype="datetime64[D]")
        latest = np.full(n, np.datetime64("2999-12-31"), dtype="datetime64[D]")
        possible = np.ones(n, dtype=bool)
        live = False
        for i in members:
            d = schedule.doses[i]
            earliest = np.maximum(earliest, add_duration(birth, *d.min_age))
            earliest = np.maximum(earliest, add_duration(birth, *d.age))
            if d.number > 1:
                prev = given[:, index_of[(d.series, d.number - 1)]]
                possible &= ~np.isnat(prev)
                if d.min_interval is not None:
                    bound = add_duration(np.where(np.isnat(prev), birth, prev), *d.min_interval)
                    earliest = np.maximum(earliest, bound)
            for other, number, gap in d.after:
                cols = series_doses[other] if number is None else [index_of[(other, number)]]
                ref = given[:, cols].max(axis=1) if number is None else given[:, cols[0]]
                ref_days = np.where(np.isnat(ref), np.datetime64("1900-01-01"), ref)
                earliest = np.maximum(earliest, add_duration(ref_days, *gap))
            live |= schedule.live_injectable[d.series]
            latest = np.minimum(latest, overdue_at[:, i] - 1)
        if live:
            spaced = np.where(np.isnat(last_live), earliest, last_live + LIVE_SPACING_DAYS)
            earliest = np.maximum(earliest, spaced)
        delay = np.floor(rng.exponential(mean_delay)).astype(np.int64)
        day = np.minimum(earliest + delay, np.maximum(latest, earliest))
        ok = possible & (day <= AS_OF_D)
        for i in members:
            given[ok, i] = day[ok]
        if live:
            last_live = np.where(ok, day, last_live)

    # Children who miss: an exact share per hukou and age band, among those who can.
    can_miss = ~np.isnat(given) & (overdue_at <= AS_OF_D) & (max_age_at > AS_OF_D)
    missed = np.zeros(n, dtype=bool)
    for is_migrant, share in MISS_SHARE.items():
        for lo, hi in AGE_BANDS:
            band = np.flatnonzero((migrant == is_migrant) & (age >= lo) & (age <= hi))
            target = round(share * band.size)
            eligible = band[can_miss[band].any(axis=1)]
            missed[quota(rng, eligible, 0.0, count=target)] = True
    rows = np.flatnonzero(missed)
    keys = np.where(can_miss[rows], rng.random((rows.size, k)), -1.0)
    pick = np.argmax(keys, axis=1)
    # Four in ten skip the whole visit (every dose due at that age), the rest one dose.
    whole_visit = rng.random(rows.size) < 0.4
    dose_age = np.array([_approx_days(d.age) for d in schedule.doses])
    dose_series = np.array([d.series for d in schedule.doses])
    dose_number = np.array([d.number for d in schedule.doses])
    same_visit = dose_age[None, :] == dose_age[pick][:, None]
    drop_seed = np.where(
        whole_visit[:, None], same_visit & can_miss[rows], np.eye(k, dtype=bool)[pick]
    )
    # Dropping a dose drops the rest of its series too (nobody gives dose 3 without dose 2).
    first_dropped = np.full((rows.size, len(schedule.codes)), 99)
    for i in range(k):
        s = dose_series[i]
        first_dropped[:, s] = np.where(
            drop_seed[:, i], np.minimum(first_dropped[:, s], dose_number[i]), first_dropped[:, s]
        )
    drop = dose_number[None, :] >= first_dropped[:, dose_series]
    sub = given[rows]
    sub[drop] = nat
    given[rows] = sub

    doses_overdue = np.zeros(n, dtype=np.int64)
    for cols in series_doses.values():
        have = ~np.isnat(given[:, cols])
        count = have.sum(axis=1)
        complete = count == len(cols)
        nxt = np.array(cols)[np.minimum(count, len(cols) - 1)]
        overdue = (
            ~complete
            & (overdue_at[np.arange(n), nxt] <= AS_OF_D)
            & (max_age_at[:, cols[0]] > AS_OF_D)
        )
        doses_overdue += overdue
    child, col = np.nonzero(~np.isnat(given))
    dates = given[child, col]
    order = np.lexsort((col, dates, child))
    return Histories(
        child=child[order],
        series=dose_series[col[order]],
        number=dose_number[col[order]],
        date=dates[order],
        missed=doses_overdue > 0,
        doses_overdue=doses_overdue,
    )
