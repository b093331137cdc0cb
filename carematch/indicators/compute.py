"""The indicator engine (指标计算): every indicator for one period, by region and breakdown.

A pipeline of named SQL steps run on one DuckDB connection, Arrow in and Arrow out, like the
features view (carematch/profiling/features.py). Pure: no SQLAlchemy, no FastAPI. The service
reads what the datasets need from the database and hands it over as Arrow tables
(:data:`INPUTS`); DuckDB never scans SQLite or PostgreSQL itself.

The steps: first the named datasets (:data:`DATASETS`, a fixed whitelist of SQL queries: an
indicator file can name a dataset, never bring its own SQL), each one row per counted unit with
its region (``community``: a community, street or district code) and breakdown columns; then,
per indicator, the two CRE rules compiled to SQL over the dataset, each unit expanded to every
region above it (city, district, street, community) and summed with GROUPING SETS.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from carematch.indicators.definitions import Indicator, IndicatorLibrary, status
from carematch.rules import Feature, FeatureDictionary, FeatureType

CITY_UTC_OFFSET_HOURS = 8
"""The city's clock (UTC+8, no daylight saving): stored times are UTC, periods are city days."""
WARNING_LINE_YUAN = 5000
"""Twelve-month out-of-pocket at which a person counts as at risk of illness-induced poverty
(R-PV-1's warning line)."""
INFECTIOUS = ("tb", "hepatitis_b", "hiv")
"""Diagnoses counted as notifiable infectious disease cases."""


@dataclass(frozen=True)
class Period:
    """A calendar month of city days, ``[start, end)``; ``label`` is ``YYYY-MM``."""

    start: date
    end: date

    @classmethod
    def month(cls, label: str) -> Period:
        """The period of a ``YYYY-MM`` label; ValueError for anything else."""
        try:
            year, month = (int(part) for part in label.split("-"))
            start = date(year, month, 1)
        except ValueError:
            raise ValueError(f"a period is a month, YYYY-MM, got {label!r}") from None
        if len(label) != 7 or not 1900 <= year <= 2100:
            raise ValueError(f"a period is a month, YYYY-MM between 1900 and 2100, got {label!r}")
        return cls(start, _next_month(start))

    @classmethod
    def containing(cls, day: date) -> Period:
        """The month a day falls in."""
        return cls.month(f"{day.year:04d}-{day.month:02d}")

    @property
    def label(self) -> str:
        return f"{self.start.year:04d}-{self.start.month:02d}"

    @property
    def last_day(self) -> date:
        return self.end - timedelta(days=1)

    def previous(self) -> Period:
        """The month before."""
        return Period.containing(self.start - timedelta(days=1))

    def year_before(self) -> Period:
        """The same month a year earlier."""
        return Period(self.start.replace(year=self.start.year - 1), _year_back(self.end))


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _year_back(day: date) -> date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)


# The Arrow inputs the datasets read (beyond ``people``, the features view), with their types.
INPUTS: dict[str, dict[str, pa.DataType]] = {
    "demand_rows": {
        "demand_id": pa.string(),
        "person_id": pa.string(),
        "community": pa.string(),
        "status": pa.string(),
        "first_seen_at": pa.timestamp("us"),
        "responded_at": pa.timestamp("us"),
    },
    "survey_rows": {
        "person_id": pa.string(),
        "record_id": pa.string(),
        "survey_date": pa.date32(),
        "health_literacy": pa.bool_(),
        "community_activity": pa.bool_(),
    },
    "settlement_rows": {
        "person_id": pa.string(),
        "settlement_date": pa.date32(),
        "diagnosis": pa.string(),
        "facility_code": pa.string(),
        "visit_type": pa.string(),
        "total_cost": pa.float64(),
        "out_of_pocket": pa.float64(),
    },
    "rating_rows": {
        "person_id": pa.string(),
        "region_code": pa.string(),
        "service": pa.string(),
        "score": pa.int64(),
        "rated_at": pa.timestamp("us"),
    },
    "complaint_rows": {
        "region_code": pa.string(),
        "category": pa.string(),
        "received_at": pa.timestamp("us"),
    },
    "vaccination_services": {"service": pa.string()},
}


def empty_input(name: str) -> pa.Table:
    """An input with no rows (a domain with nothing recorded yet)."""
    return pa.schema([pa.field(n, t) for n, t in INPUTS[name].items()]).empty_table()


def input_table(name: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """An input from plain rows, coerced to its column types."""
    schema = empty_input(name).schema
    rows = list(rows)
    return pa.table(
        {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema},
        schema=schema,
    )


def _city_day(column: str) -> str:
    return f"CAST({column} + INTERVAL {CITY_UTC_OFFSET_HOURS} HOUR AS DATE)"


@dataclass(frozen=True)
class Dataset:
    """A named SQL dataset: one row per counted unit, its columns open to the rules.

    ``sql`` may use :start, :end (the period, city days, end exclusive), :as_of (its last day),
    :prev_start, :prev_end, :prev_as_of (the same month a year earlier) and the view ``attrs``
    (each person's community, hukou and age group). ``columns`` are what the rules may name.
    """

    name: str
    sql: str
    columns: Mapping[str, str]
    description: str


_ATTRS = """
    SELECT person_id, community, hukou,
           CASE WHEN age IS NULL THEN NULL WHEN age < 18 THEN 'child'
                WHEN age >= 65 THEN 'elderly' ELSE 'adult' END AS age_group
    FROM people"""

_BREAKDOWN = {"community": "str", "hukou": "str", "age_group": "str"}

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "demand_response",
            f"""
            SELECT d.person_id, coalesce(d.community, a.community) AS community, a.hukou,
                   a.age_group,
                   d.responded_at IS NOT NULL AS responded,
                   d.responded_at IS NOT NULL OR d.status = 'served' AS matched,
                   CASE WHEN d.responded_at IS NOT NULL THEN
                       greatest(epoch(d.responded_at) - epoch(d.first_seen_at), 0) / 3600.0
                   END AS hours
            FROM demand_rows d LEFT JOIN attrs a USING (person_id)
            WHERE {_city_day("d.first_seen_at")} >= :start
              AND {_city_day("d.first_seen_at")} < :end""",
            {**_BREAKDOWN, "responded": "bool", "matched": "bool", "hours": "float"},
            "Demands first identified in the period: whether and how fast a booking or a "
            "service record answered them.",
        ),
        Dataset(
            "survey_latest",
            """
            SELECT s.person_id, a.community, a.hukou, a.age_group,
                   s.health_literacy IS NOT NULL AS answered_literacy,
                   coalesce(s.health_literacy, FALSE) AS literate,
                   s.community_activity IS NOT NULL AS answered_activity,
                   coalesce(s.community_activity, FALSE) AS active
            FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY person_id ORDER BY survey_date DESC, record_id DESC
                ) AS rn
                FROM survey_rows
                WHERE person_id IS NOT NULL
                  AND survey_date > :as_of - INTERVAL 12 MONTH AND survey_date <= :as_of
            ) s JOIN attrs a USING (person_id)
            WHERE s.rn = 1""",
            {
                **_BREAKDOWN,
                "answered_literacy": "bool",
                "literate": "bool",
                "answered_activity": "bool",
                "active": "bool",
            },
            "Each person's latest survey in the twelve months to the period's end.",
        ),
        Dataset(
            "infectious_cases",
            f"""
            SELECT s.person_id, a.community, a.hukou, a.age_group, s.diagnosis,
                   bool_or(s.settlement_date >= :start AND s.settlement_date < :end) AS current,
                   bool_or(s.settlement_date >= :prev_start AND s.settlement_date < :prev_end)
                       AS previous
            FROM settlement_rows s JOIN attrs a USING (person_id)
            WHERE s.diagnosis IN ({", ".join(f"'{d}'" for d in INFECTIOUS)})
              AND ((s.settlement_date >= :start AND s.settlement_date < :end)
                   OR (s.settlement_date >= :prev_start AND s.settlement_date < :prev_end))
            GROUP BY s.person_id, a.community, a.hukou, a.age_group, s.diagnosis""",
            {**_BREAKDOWN, "diagnosis": "str", "current": "bool", "previous": "bool"},
            "Persons with an infectious diagnosis settled in the period (current) or in the "
            "same month a year earlier (previous), one row per person and disease.",
        ),
        Dataset(
            "catastrophic_oop",
            f"""
            SELECT s.person_id, a.community, a.hukou, a.age_group,
                   coalesce(sum(s.oop) FILTER (WHERE s.settlement_date > :as_of - INTERVAL 12 MONTH
                                                 AND s.settlement_date <= :as_of), 0)
                       >= {WARNING_LINE_YUAN} AS current,
                   coalesce(sum(s.oop) FILTER (
                                WHERE s.settlement_date > :prev_as_of - INTERVAL 12 MONTH
                                  AND s.settlement_date <= :prev_as_of), 0)
                       >= {WARNING_LINE_YUAN} AS previous
            FROM (
                SELECT DISTINCT person_id, settlement_date, facility_code, visit_type,
                       total_cost, CAST(out_of_pocket AS DECIMAL(18, 2)) AS oop
                FROM settlement_rows WHERE person_id IS NOT NULL
            ) s JOIN attrs a USING (person_id)
            GROUP BY s.person_id, a.community, a.hukou, a.age_group""",
            {**_BREAKDOWN, "current": "bool", "previous": "bool"},
            "Persons whose own out-of-pocket over twelve months reached the warning line, at "
            "the period's end (current) and a year earlier (previous).",
        ),
        Dataset(
            "ratings",
            f"""
            SELECT r.person_id, coalesce(r.region_code, a.community) AS community, a.hukou,
                   a.age_group, r.score, r.service,
                   r.service IN (SELECT service FROM vaccination_services) AS vaccination
            FROM rating_rows r LEFT JOIN attrs a USING (person_id)
            WHERE {_city_day("r.rated_at")} >= :start AND {_city_day("r.rated_at")} < :end""",
            {**_BREAKDOWN, "score": "int", "service": "str", "vaccination": "bool"},
            "Ratings (1-5) given in the period, placed where the service was given.",
        ),
        Dataset(
            "complaints",
            f"""
            SELECT region_code AS community, CAST(NULL AS VARCHAR) AS hukou,
                   CAST(NULL AS VARCHAR) AS age_group, category
            FROM complaint_rows
            WHERE {_city_day("received_at")} >= :start AND {_city_day("received_at")} < :end""",
            {**_BREAKDOWN, "category": "str"},
            "Complaints received in the period, by the region they concern.",
        ),
    )
}

PEOPLE = Dataset(
    "people",
    """
    SELECT f.*, a.age_group, d.person_id IS NOT NULL AS has_demand
    FROM people f JOIN attrs a USING (person_id)
    LEFT JOIN (SELECT DISTINCT person_id FROM demand_rows) d USING (person_id)""",
    {"age_group": "str", "has_demand": "bool"},
    "The features view as of the period's last day, one row per person, with whether any "
    "demand was ever identified for the person.",
)


@cache
def profiling_dictionary() -> FeatureDictionary:
    """The feature dictionary of the features view (profiling's)."""
    path = Path(__file__).resolve().parent.parent / "profiling" / "feature_dictionary.yaml"
    return FeatureDictionary.from_yaml(path)


@cache
def dictionaries() -> dict[str, FeatureDictionary]:
    """Dataset name → the columns its rules may name."""
    base = profiling_dictionary()
    out: dict[str, FeatureDictionary] = {}
    extra = [Feature(n, FeatureType(t)) for n, t in PEOPLE.columns.items()]
    out["people"] = FeatureDictionary([*base.values(), *extra], base.conditions)
    for dataset in DATASETS.values():
        out[dataset.name] = FeatureDictionary(
            [Feature(n, FeatureType(t)) for n, t in dataset.columns.items()]
        )
    return out


RESULT_SCHEMA = pa.schema(
    [
        ("indicator_id", pa.string()),
        ("region_code", pa.string()),
        ("disaggregation", pa.string()),
        ("group_key", pa.string()),
        ("numerator", pa.float64()),
        ("denominator", pa.float64()),
        ("value", pa.float64()),
        ("target", pa.float64()),
        ("status", pa.string()),
    ]
)


def _params(period: Period, as_of: date) -> dict[str, str]:
    prev = period.year_before()
    prev_as_of = _year_back(as_of + timedelta(days=1)) - timedelta(days=1)
    values = {
        "prev_start": prev.start,
        "prev_end": prev.end,
        "prev_as_of": prev_as_of,
        "start": period.start,
        "end": period.end,
        "as_of": as_of,
    }
    return {f":{k}": f"DATE '{v.isoformat()}'" for k, v in values.items()}


def _bind(sql: str, params: Mapping[str, str]) -> str:
    # Longest names first, so :prev_start is not read as :prev followed by _start.
    for name in sorted(params, key=len, reverse=True):
        sql = sql.replace(name, params[name])
    return sql


def _regions(city_code: str) -> str:
    # A unit counts in its community and in every region above it; a unit with no known place
    # counts in the city only.
    return f"""list_filter([
        '{city_code}',
        CASE WHEN length(community) >= 6 THEN left(community, 6) END,
        CASE WHEN length(community) >= 9 THEN left(community, 9) END,
        CASE WHEN length(community) >= 12 THEN community END], lambda r: r IS NOT NULL)"""


def indicator_sql(indicator: Indicator, city_code: str, as_of: date) -> str:
    """The query summing one dataset indicator by region × breakdown (over ``ds_<dataset>``)."""
    assert indicator.numerator is not None and indicator.denominator is not None
    num = indicator.numerator.to_sql("duckdb", evaluation_date=as_of)
    den = indicator.denominator.to_sql("duckdb", evaluation_date=as_of)
    if indicator.kind == "rate":
        d, n = den, f"({den}) AND ({num})"
    elif indicator.kind == "change":
        d, n = den, num
    elif indicator.kind == "count":
        d, n = "FALSE", f"({den}) AND ({num})"
    else:  # mean: the value summed over the rows that count
        d = n = f"({den}) AND ({num}) AND {indicator.value} IS NOT NULL"
    value = f"CAST({indicator.value} AS DOUBLE)" if indicator.kind == "mean" else "1.0"
    keys = list(indicator.disaggregations)
    cols = "".join(f", {k}" for k in keys)
    sets = ", ".join(["(region)", *(f"(region, {k})" for k in keys)])
    which = " ".join(f"WHEN GROUPING({k}) = 0 THEN '{k}'" for k in keys)
    disaggregation = f"CASE {which} ELSE 'total' END" if keys else "'total'"
    key = f"CAST(coalesce({', '.join(keys)}) AS VARCHAR)" if keys else "NULL"
    null_keys = " OR ".join(f"(GROUPING({k}) = 0 AND {k} IS NULL)" for k in keys) or "FALSE"
    numerator = "sum(v)" if indicator.kind == "mean" else "sum(CAST(n AS INTEGER))"
    return f"""
        WITH u AS (
            SELECT community{cols}, {d} AS d, {n} AS n, {value} AS v
            FROM "ds_{indicator.dataset}"
        ), x AS (
            SELECT unnest({_regions(city_code)}) AS region{cols}, d, n, CASE WHEN n THEN v END AS v
            FROM u WHERE d OR n
        )
        SELECT region AS region_code,
               {disaggregation} AS disaggregation,
               coalesce({key}, '') AS group_key,
               CAST({numerator} AS DOUBLE) AS numerator,
               CAST(sum(CAST(d AS INTEGER)) AS DOUBLE) AS denominator
        FROM x
        GROUP BY GROUPING SETS ({sets})
        HAVING NOT ({null_keys})"""


def _value(kind: str, numerator: float | None, denominator: float | None) -> float | None:
    if kind == "count":
        return numerator or 0.0
    if not denominator:
        return None
    if kind == "change":
        return (numerator or 0.0) / denominator - 1
    return (numerator or 0.0) / denominator


def compute(
    library: IndicatorLibrary,
    people: pa.Table,
    inputs: Mapping[str, pa.Table],
    period: Period,
    city_code: str,
    *,
    as_of: date | None = None,
    con: Any = None,
) -> pa.Table:
    """Every dataset indicator of ``library`` for one period (provider ones are the service's).

    Args:
        library: the indicators.
        people: the features view as of ``as_of`` (profiling's compute_features).
        inputs: name → table, for the names of :data:`INPUTS`; missing ones are empty.
        period: the month.
        city_code: the city's region code (the top of every breakdown).
        as_of: the day the snapshot figures are taken on (default the period's last day).
        con: a DuckDB connection to run on (a private one by default).

    Returns:
        :data:`RESULT_SCHEMA` rows: one per indicator × region × breakdown key with any unit.
    """
    import duckdb

    as_of = as_of or period.last_day
    params = _params(period, as_of)
    own = con is None
    con = con or duckdb.connect()
    registered: list[str] = []
    created: list[str] = []
    try:
        con.register("people", people)
        registered.append("people")
        for name in INPUTS:
            con.register(name, inputs.get(name, empty_input(name)))
            registered.append(name)
        con.execute(f"CREATE OR REPLACE TEMP TABLE attrs AS {_ATTRS}")
        created.append("attrs")
        wanted = {i.dataset for i in library.values() if i.dataset}
        for dataset in (PEOPLE, *DATASETS.values()):
            if dataset.name in wanted:
                con.execute(
                    f'CREATE OR REPLACE TEMP TABLE "ds_{dataset.name}" AS '
                    + _bind(dataset.sql, params)
                )
                created.append(f"ds_{dataset.name}")
        parts: list[pa.Table] = []
        for indicator in library.values():
            if indicator.dataset is None:
                continue
            rows = con.sql(indicator_sql(indicator, city_code, as_of)).fetchall()
            parts.append(_result(indicator, rows))
        return pa.concat_tables(parts) if parts else RESULT_SCHEMA.empty_table()
    finally:
        if own:
            con.close()
        else:
            for name in created:
                con.execute(f'DROP TABLE IF EXISTS "{name}"')
            for name in registered:
                con.unregister(name)


def _result(indicator: Indicator, rows: list[tuple[Any, ...]]) -> pa.Table:
    columns: dict[str, list[Any]] = {f.name: [] for f in RESULT_SCHEMA}
    for region, disaggregation, key, numerator, denominator in sorted(rows):
        value = _value(indicator.kind, numerator, denominator)
        columns["indicator_id"].append(indicator.id)
        columns["region_code"].append(region)
        columns["disaggregation"].append(disaggregation)
        columns["group_key"].append(key)
        columns["numerator"].append(numerator)
        columns["denominator"].append(None if indicator.kind == "count" else denominator)
        columns["value"].append(value)
        columns["target"].append(indicator.target)
        columns["status"].append(
            status(value, indicator.target, indicator.direction, indicator.amber_band)
        )
    return pa.table(columns, schema=RESULT_SCHEMA)


def result_row(
    indicator: Indicator,
    region: str,
    numerator: float | None,
    denominator: float | None,
    value: float | None,
) -> dict[str, Any]:
    """One total row for an indicator whose figures come from a provider."""
    return {
        "indicator_id": indicator.id,
        "region_code": region,
        "disaggregation": "total",
        "group_key": "",
        "numerator": numerator,
        "denominator": denominator,
        "value": value,
        "target": indicator.target,
        "status": status(value, indicator.target, indicator.direction, indicator.amber_band),
    }
