"""Synthetic indicator inputs at any size (the benchmark's million-person city, tests' checks).

Generating and loading a full city of 1,000,000 persons through ingest and linkage takes far
longer than the indicators themselves; the engine only reads the features view and a handful of
event tables, so these are drawn directly, with the shapes and rough rates of the generated
city (see carematch/synth). Seeded: the same size and seed give the same tables.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pyarrow as pa

from carematch.indicators.compute import INPUTS, Period

CITY = "449900"


def communities(districts: int = 5, streets: int = 4, per_street: int = 3) -> list[str]:
    """Community codes shaped like the generated city's (district 4499dd, street +sss, +ccc)."""
    return [
        f"4499{d:02d}{s:03d}{c:03d}"
        for d in range(1, districts + 1)
        for s in range(1, streets + 1)
        for c in range(1, per_street + 1)
    ]


def _ts_fast(base: datetime, seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    start = np.datetime64(base.replace(tzinfo=None), "us")
    values = start + (seconds * 1_000_000).astype("timedelta64[us]")
    return pa.array(values, pa.timestamp("us"), mask=mask)


def _days(base: date, offsets: np.ndarray) -> pa.Array:
    start = np.datetime64(base, "D")
    return pa.array(start + offsets.astype("timedelta64[D]"), pa.date32())


def city(persons: int, period: Period, seed: int = 7) -> tuple[pa.Table, dict[str, pa.Table]]:
    """The features view (the columns the shipped indicators read) and every input table."""
    rng = np.random.default_rng(seed)
    codes = np.array(communities())
    n = persons
    ids = np.char.add("P", np.char.zfill(np.arange(n).astype(str), 9))
    community = codes[rng.integers(0, len(codes), n)].astype(object)
    community[rng.random(n) < 0.01] = None
    hukou = np.where(rng.random(n) < 0.3, "migrant", "local")
    age = rng.integers(0, 95, n)
    conditions_pool = [[], ["hypertension"], ["diabetes"], ["hypertension", "diabetes"], ["tb"]]
    pick = rng.choice(len(conditions_pool), n, p=[0.7, 0.15, 0.08, 0.05, 0.02])
    conditions = pa.array([conditions_pool[i] for i in pick], pa.list_(pa.string()))
    sbp = rng.normal(132, 15, n).round().astype(np.int64)
    dbp = rng.normal(84, 9, n).round().astype(np.int64)
    glucose = rng.normal(6.4, 1.2, n).round(1)
    followed = rng.integers(0, 400, n)
    has_followup = rng.random(n) < 0.8
    last_followup = pa.array(
        np.datetime64(period.last_day, "D") - followed.astype("timedelta64[D]"),
        pa.date32(),
        mask=~has_followup,
    )
    people = pa.table(
        {
            "person_id": pa.array(ids, pa.string()),
            "age": pa.array(age, pa.int64()),
            "hukou": pa.array(hukou, pa.string()),
            "community": pa.array(community, pa.string()),
            "is_pregnant": pa.array(rng.random(n) < 0.01),
            "disability_level": pa.array(
                np.where(rng.random(n) < 0.05, rng.integers(1, 5, n), 0), pa.int64()
            ),
            "sbp": pa.array(sbp, pa.int64(), mask=rng.random(n) < 0.1),
            "dbp": pa.array(dbp, pa.int64()),
            "glucose": pa.array(glucose, pa.float64(), mask=rng.random(n) < 0.1),
            "last_followup": last_followup,
            "conditions": conditions,
        }
    )
    month_s = (period.end - period.start).days * 86400
    start = datetime.combine(period.start, datetime.min.time())
    # Demands: about one per five persons, some first seen this month, most answered.
    m = n // 5
    who = rng.integers(0, n, m)
    seen = rng.integers(-month_s, month_s, m)
    answered = rng.random(m) < 0.85
    lag = rng.exponential(20 * 3600, m)
    demand_rows = pa.table(
        {
            "demand_id": pa.array(np.char.add("D", np.arange(m).astype(str)), pa.string()),
            "person_id": pa.array(ids[who], pa.string()),
            "community": pa.array(community[who], pa.string()),
            "status": pa.array(np.where(rng.random(m) < 0.3, "served", "open"), pa.string()),
            "first_seen_at": _ts_fast(start, seen),
            "responded_at": _ts_fast(start, seen + lag, ~answered),
        }
    )
    s = n // 4
    who = rng.integers(0, n, s)
    survey_rows = pa.table(
        {
            "person_id": pa.array(ids[who], pa.string()),
            "record_id": pa.array(np.char.add("S", np.arange(s).astype(str)), pa.string()),
            "survey_date": _days(period.last_day, -rng.integers(0, 500, s)),
            "health_literacy": pa.array(rng.random(s) < 0.27, mask=rng.random(s) < 0.05),
            "community_activity": pa.array(rng.random(s) < 0.4, mask=rng.random(s) < 0.05),
        }
    )
    k = n * 2
    who = rng.integers(0, n, k)
    diagnosis = rng.choice(
        np.array(["general", "hypertension", "diabetes", "tb", "hepatitis_b"]),
        k,
        p=[0.8, 0.1, 0.07, 0.02, 0.01],
    )
    settlement_rows = pa.table(
        {
            "person_id": pa.array(ids[who], pa.string()),
            "settlement_date": _days(period.last_day, -rng.integers(0, 730, k)),
            "diagnosis": pa.array(diagnosis, pa.string()),
            "facility_code": pa.array(np.char.add("PRV", rng.integers(0, 50, k).astype(str))),
            "visit_type": pa.array(np.where(rng.random(k) < 0.9, "outpatient", "inpatient")),
            "total_cost": pa.array(rng.exponential(800, k).round(2)),
            "out_of_pocket": pa.array(rng.exponential(400, k).round(2)),
        }
    )
    services = np.array(
        ["chronic_followup", "general_outpatient", "vaccination_child", "elderly_checkup"]
    )
    r = n // 10
    who = rng.integers(0, n, r)
    rating_rows = pa.table(
        {
            "person_id": pa.array(ids[who], pa.string()),
            "region_code": pa.array(community[who], pa.string()),
            "service": pa.array(services[rng.integers(0, len(services), r)], pa.string()),
            "score": pa.array(rng.choice([1, 2, 3, 4, 5], r, p=[0.02, 0.03, 0.05, 0.3, 0.6])),
            "rated_at": _ts_fast(start, rng.integers(-month_s, month_s, r)),
        }
    )
    c = max(n // 1000, 10)
    complaint_rows = pa.table(
        {
            "region_code": pa.array(codes[rng.integers(0, len(codes), c)], pa.string()),
            "category": pa.array(np.where(rng.random(c) < 0.5, "service_quality", "access")),
            "received_at": _ts_fast(start, rng.integers(-month_s, month_s, c)),
        }
    )
    inputs = {
        "demand_rows": demand_rows,
        "survey_rows": survey_rows,
        "settlement_rows": settlement_rows,
        "rating_rows": rating_rows,
        "complaint_rows": complaint_rows,
        "vaccination_services": pa.table({"service": pa.array(["vaccination_child"])}),
    }
    for name, table in inputs.items():
        inputs[name] = table.cast(pa.schema([pa.field(k, t) for k, t in INPUTS[name].items()]))
    return people, inputs
