"""Hand-written SQL for every shipped dataset indicator, to hold the engine to.

Written apart from the engine on purpose: no CRE, no named datasets, no GROUPING SETS. Each
indicator is a plain query giving one row per counted unit (its community, hukou, age group, and
its numerator and denominator contributions); :func:`expected` sums the units at each region
level with ordinary GROUP BYs.
"""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa

from carematch.indicators.compute import INPUTS, Period, empty_input

AGE_GROUP = """CASE WHEN p.age < 18 THEN 'child' WHEN p.age >= 65 THEN 'elderly'
                    WHEN p.age IS NOT NULL THEN 'adult' END"""
HTN = "list_contains(p.conditions, 'hypertension')"
DM = "list_contains(p.conditions, 'diabetes')"


def _units(as_of: date, period: Period) -> dict[str, str]:
    start, end = f"DATE '{period.start}'", f"DATE '{period.end}'"
    prev = period.year_before()
    ys, ye = f"DATE '{prev.start}'", f"DATE '{prev.end}'"
    day = f"DATE '{as_of}'"
    try:
        prev_day = as_of.replace(year=as_of.year - 1)
    except ValueError:  # 29 February
        prev_day = as_of.replace(year=as_of.year - 1, day=28)
    prev_as_of = f"DATE '{prev_day}'"
    person = f"p.community, p.hukou, {AGE_GROUP} AS age_group"
    city_day = "CAST({} + INTERVAL 8 HOUR AS DATE)"
    latest_survey = f"""
        SELECT s.* FROM survey_rows s
        WHERE s.person_id IS NOT NULL AND s.survey_date <= {day}
          AND s.survey_date > {day} - INTERVAL 12 MONTH
          AND NOT EXISTS (
              SELECT 1 FROM survey_rows t
              WHERE t.person_id = s.person_id AND t.survey_date <= {day}
                AND t.survey_date > {day} - INTERVAL 12 MONTH
                AND (t.survey_date > s.survey_date
                     OR (t.survey_date = s.survey_date AND t.record_id > s.record_id)))"""
    distinct_settlements = """SELECT DISTINCT person_id, settlement_date, facility_code,
        visit_type, total_cost, CAST(out_of_pocket AS DECIMAL(18, 2)) AS oop
        FROM settlement_rows WHERE person_id IS NOT NULL"""
    demands = f"""
        SELECT d.*, coalesce(d.community, p.community) AS place, p.hukou, {AGE_GROUP} AS age_group
        FROM demand_rows d LEFT JOIN people p USING (person_id)
        WHERE {city_day.format("d.first_seen_at")} >= {start}
          AND {city_day.format("d.first_seen_at")} < {end}"""
    ratings = f"""
        SELECT r.*, coalesce(r.region_code, p.community) AS place, p.hukou,
               {AGE_GROUP} AS age_group
        FROM rating_rows r LEFT JOIN people p USING (person_id)
        WHERE {city_day.format("r.rated_at")} >= {start}
          AND {city_day.format("r.rated_at")} < {end}"""
    return {
        "demand_identification_coverage": f"""
            SELECT {person},
                   coalesce(p.age >= 65, FALSE) OR {HTN} OR {DM}
                   OR coalesce(p.is_pregnant, FALSE) OR coalesce(p.disability_level > 0, FALSE)
                       AS d,
                   p.person_id IN (SELECT person_id FROM demand_rows) AS hit
            FROM people p""",
        "chronic_control_rate": f"""
            SELECT {person}, {HTN} OR {DM} AS d,
                   (NOT {HTN} OR coalesce(p.sbp < 140 AND p.dbp < 90, FALSE))
                   AND (NOT {DM} OR coalesce(p.glucose < 7.0, FALSE)) AS hit
            FROM people p""",
        "diabetes_management_rate": f"""
            SELECT {person}, {DM} AS d,
                   coalesce({day} - p.last_followup <= 90, FALSE) AS hit
            FROM people p""",
        "resource_match_rate": f"""
            SELECT place AS community, hukou, age_group, TRUE AS d,
                   responded_at IS NOT NULL OR status = 'served' AS hit
            FROM ({demands})""",
        "demand_response_hours": f"""
            SELECT place AS community, hukou, age_group, 1 AS d,
                   greatest(date_diff('microsecond', first_seen_at, responded_at), 0)
                       / 3600e6 AS n
            FROM ({demands}) WHERE responded_at IS NOT NULL""",
        "health_literacy": f"""
            SELECT {person}, s.health_literacy IS NOT NULL AS d,
                   coalesce(s.health_literacy, FALSE) AS hit
            FROM ({latest_survey}) s JOIN people p USING (person_id)""",
        "social_integration": f"""
            SELECT {person}, s.community_activity IS NOT NULL AS d,
                   coalesce(s.community_activity, FALSE) AS hit
            FROM ({latest_survey}) s JOIN people p USING (person_id)""",
        "infectious_incidence_change": f"""
            SELECT {person},
                   count(DISTINCT s.diagnosis) FILTER (
                       WHERE s.settlement_date >= {ys} AND s.settlement_date < {ye}) AS d,
                   count(DISTINCT s.diagnosis) FILTER (
                       WHERE s.settlement_date >= {start} AND s.settlement_date < {end}) AS n
            FROM settlement_rows s JOIN people p USING (person_id)
            WHERE s.diagnosis IN ('tb', 'hepatitis_b', 'hiv')
            GROUP BY p.person_id, p.community, p.hukou, age_group""",
        "illness_poverty_change": f"""
            SELECT {person},
                   coalesce(sum(s.oop) FILTER (WHERE s.settlement_date <= {prev_as_of}
                       AND s.settlement_date > {prev_as_of} - INTERVAL 12 MONTH), 0) >= 5000 AS d,
                   coalesce(sum(s.oop) FILTER (WHERE s.settlement_date <= {day}
                       AND s.settlement_date > {day} - INTERVAL 12 MONTH), 0) >= 5000 AS n
            FROM ({distinct_settlements}) s JOIN people p USING (person_id)
            GROUP BY p.person_id, p.community, p.hukou, age_group""",
        "satisfaction": f"""
            SELECT place AS community, hukou, age_group, TRUE AS d, score >= 4 AS hit
            FROM ({ratings})""",
        "vaccination_satisfaction": f"""
            SELECT place AS community, hukou, age_group, TRUE AS d, score >= 4 AS hit
            FROM ({ratings}) WHERE service IN (SELECT service FROM vaccination_services)""",
        "complaints_received": f"""
            SELECT region_code AS community, NULL AS hukou, NULL AS age_group,
                   NULL AS d, 1 AS n
            FROM complaint_rows
            WHERE {city_day.format("received_at")} >= {start}
              AND {city_day.format("received_at")} < {end}""",
    }


HAND_INDICATORS = tuple(_units(date(2026, 1, 31), Period.month("2026-01")))
"""The indicators this file computes by hand (every shipped dataset indicator)."""

Key = tuple[str, str, str, str]


def expected(
    people: pa.Table, inputs: dict[str, pa.Table], period: Period, city: str, as_of: date
) -> dict[Key, tuple[float | None, float | None]]:
    """(indicator, region, disaggregation, key) → (numerator, denominator), by hand."""
    out: dict[Key, tuple[float | None, float | None]] = {}
    levels = {
        "city": f"'{city}'",
        "district": "CASE WHEN length(community) >= 6 THEN substr(community, 1, 6) END",
        "street": "CASE WHEN length(community) >= 9 THEN substr(community, 1, 9) END",
        "community": "CASE WHEN length(community) >= 12 THEN community END",
    }
    with duckdb.connect() as con:
        con.register("people", people)
        for name in INPUTS:
            con.register(name, inputs.get(name, empty_input(name)))
        for indicator, sql in _units(as_of, period).items():
            if " AS hit" in sql:  # a rate: the numerator counts units meeting it among d
                sql = f"SELECT *, CAST(d AND hit AS INTEGER) AS n FROM ({sql})"
            con.execute(f"CREATE OR REPLACE TEMP TABLE units AS {sql}")
            for region in levels.values():
                for dis, key in (("total", "''"), ("hukou", "hukou"), ("age_group", "age_group")):
                    rows = con.execute(
                        f"""SELECT region, k, sum(CAST(n AS DOUBLE)), sum(CAST(d AS DOUBLE))
                        FROM (SELECT {region} AS region, {key} AS k, n, d FROM units
                              WHERE coalesce(CAST(d AS INTEGER), 0) > 0
                                 OR coalesce(CAST(n AS DOUBLE), 0) > 0)
                        WHERE region IS NOT NULL AND k IS NOT NULL
                        GROUP BY region, k"""
                    ).fetchall()
                    for code, k, n, d in rows:
                        if indicator == "complaints_received":
                            if dis != "total":
                                continue
                            d = None
                        out[(indicator, code, dis, k)] = (n or 0.0, d)
    return out
