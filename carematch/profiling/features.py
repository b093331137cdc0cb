"""The features view (特征宽表): one row per person with every feature of the dictionary.

A pipeline of named SQL steps over the linked source records, run through one DuckDB
connection by default, or on Spark (:func:`compute_features_spark`: the same steps
transpiled from DuckDB SQL with SQLGlot; a test holds the two equal row for row). The
inputs are Arrow tables, one per departmental source, each with ``person_id`` and that
source's typed columns (see :data:`SOURCE_COLUMNS`), plus ``persons`` (the golden records).
The same pipeline serves a whole city (batch) and one person (online: the same steps over
the rows :func:`inputs_for` selects: that person's records plus the poverty and settlement
records of the members of their registered household, which ``oop_12m`` sums), so the two
cannot disagree.

Choices where the sources disagree or are silent (docs/data-dictionary.md, "Features"):

- the latest record wins for measurements (by visit, survey or settlement date);
- occupation and insurance come from the employer's social-security record when there is
  one (the employer declares them), else from police registration / the latest settlement;
- ``insured_locally`` comes from the latest settlement (it records where the scheme is held);
  without one, an employee scheme declared by an employer here is local, and so is a resident
  scheme of a local (the resident scheme is held where the hukou is), while a migrant's resident
  scheme is taken as held at home; anything else is false;
- ``hukou`` from police registration, else the golden record;
- ``residence_months`` counts whole calendar months from the arrival date, or from birth for
  a local without one (local by police registration, else by the golden record), and is
  unknown for anyone else;
- ``household_status`` is ``general`` for a household the civil-affairs registry does not
  list; ``income_12m`` is 0 when unknown (as the dictionary says);
- ``oop_12m`` is the household's out-of-pocket sum over the last 12 months when the person
  belongs to a registered household, else the person's own; a settlement exported twice (same
  person, date, facility, visit type and amounts under another record id) counts once;
- ``doses_overdue`` comes from the vaccination forecaster over the immunization registry's
  doses; a person the registry does not list counts 0 (no history to judge), and
  ``immunization_record`` says whether the registry lists the person at all;
- ``disability_level`` is the latest capability assessment's (Barthel, recorded in CareMatch:
  carematch.assessments), else the latest EHR record's, else 0; ``lives_alone`` is what the
  latest home visit that noted it saw, else the EHR's, else false;
- the ``need_*`` features are the needs reported on the person's latest needs questionnaire
  and noticed on their latest home visit (each counts for twelve months): one boolean per code
  of carematch/assessments/needs.yaml.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from carematch.assessments.needs import feature_name, need_catalogue

# The typed columns the pipeline reads from each source (beyond person_id and record_id).
SOURCE_COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "police": {
        "hukou": pa.string(),
        "origin_province": pa.string(),
        "arrival_date": pa.date32(),
        "has_residence_permit": pa.bool_(),
        "occupation": pa.string(),
        "moves_12m": pa.int64(),
        "community_code": pa.string(),
    },
    "ehr": {
        "conditions": pa.list_(pa.string()),
        "sbp": pa.int64(),
        "dbp": pa.int64(),
        "glucose": pa.float64(),
        "last_visit_date": pa.date32(),
        "last_followup_date": pa.date32(),
        "signed_family_doctor": pa.bool_(),
        "is_pregnant": pa.bool_(),
        "disability_level": pa.int64(),
        "lives_alone": pa.bool_(),
        "community_code": pa.string(),
    },
    "insurance": {
        "settlement_date": pa.date32(),
        "insurance_type": pa.string(),
        "insured_locally": pa.bool_(),
        "facility_code": pa.string(),
        "visit_type": pa.string(),
        "total_cost": pa.float64(),
        "out_of_pocket": pa.float64(),
    },
    "social_security": {"occupation": pa.string(), "insurance_type": pa.string()},
    "immunization": {"doses": pa.string()},
    "poverty": {
        "household_id": pa.string(),
        "household_status": pa.string(),
        "income_12m": pa.float64(),
    },
    "survey": {"survey_date": pa.date32(), "phq9": pa.int64(), "gad7": pa.int64()},
    # Recorded in CareMatch itself (carematch.assessments), not departmental extracts; times
    # are naive UTC.
    "assessment": {"assessed_at": pa.timestamp("us"), "disability_level": pa.int64()},
    "home_visit": {"visited_at": pa.timestamp("us"), "lives_alone": pa.bool_()},
    "reported_need": {
        "reported_at": pa.timestamp("us"),
        "channel": pa.string(),
        "needs": pa.list_(pa.string()),
    },
}
# The need codes a questionnaire or visit reports; each is a boolean feature need_<code>.
NEED_CODES: tuple[str, ...] = tuple(need_catalogue())
NEED_FEATURES: tuple[str, ...] = tuple(feature_name(code) for code in NEED_CODES)
# A reported need counts for this long after the questionnaire or visit that reported it.
NEED_MONTHS = 12
# Sources whose records of other persons count too: oop_12m sums the household's settlements,
# and the poverty registry says who belongs to the household.
HOUSEHOLD_SOURCES = ("poverty", "insurance")
PERSON_COLUMNS: dict[str, pa.DataType] = {
    "person_id": pa.string(),
    "sex": pa.string(),
    "birth_date": pa.date32(),
    "community_code": pa.string(),
    "hukou": pa.string(),
}


@dataclass(frozen=True)
class Step:
    """One named SQL step: ``CREATE TABLE name AS sql``."""

    name: str
    sql: str


def _latest(source: str, order: str, columns: str) -> str:
    return f"""
        SELECT person_id, {columns} FROM (
            SELECT *, row_number() OVER (
                PARTITION BY person_id ORDER BY {order}, record_id
            ) AS rn
            FROM src_{source}
        ) WHERE rn = 1"""


# Every step reads the inputs or earlier steps; :as_of is the evaluation date literal.
STEPS: tuple[Step, ...] = (
    Step(
        "f_police",
        _latest(
            "police",
            "arrival_date DESC NULLS LAST",
            "hukou, origin_province, arrival_date, has_residence_permit, occupation, "
            "moves_12m, community_code",
        ),
    ),
    Step(
        "f_ehr",
        _latest(
            "ehr",
            "last_visit_date DESC NULLS LAST",
            "sbp, dbp, glucose, signed_family_doctor, is_pregnant, disability_level, "
            "lives_alone, community_code",
        ),
    ),
    Step(
        "f_ehr_all",
        """
        SELECT person_id,
               max(last_followup_date) AS last_followup,
               bool_or(coalesce(signed_family_doctor, FALSE)) AS any_signed
        FROM src_ehr GROUP BY person_id""",
    ),
    Step(
        "f_assessment",
        _latest("assessment", "assessed_at DESC NULLS LAST", "disability_level"),
    ),
    Step(
        # A visit that did not note whether the person lives alone says nothing about it.
        "f_visit",
        """
        SELECT person_id, lives_alone FROM (
            SELECT *, row_number() OVER (
                PARTITION BY person_id ORDER BY visited_at DESC NULLS LAST, record_id
            ) AS rn
            FROM src_home_visit WHERE lives_alone IS NOT NULL
        ) WHERE rn = 1""",
    ),
    Step(
        # The latest questionnaire's and the latest visit's needs (each channel's latest within
        # the window), one boolean column per need code.
        "f_needs",
        "SELECT person_id, "
        + ", ".join(f"bool_or(need = '{c}') AS {feature_name(c)}" for c in NEED_CODES)
        + f"""
        FROM (
            SELECT person_id, unnest(needs) AS need FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY person_id, channel
                    ORDER BY reported_at DESC NULLS LAST, record_id
                ) AS rn
                FROM src_reported_need
                WHERE CAST(reported_at AS DATE) > :as_of - INTERVAL {NEED_MONTHS} MONTH
                  AND CAST(reported_at AS DATE) <= :as_of
            ) WHERE rn = 1
        ) GROUP BY person_id""",
    ),
    Step(
        # Condition codes from every EHR record, plus pregnancy and disability as conditions
        # so that has('pregnancy') and has('disability') agree with the flags.
        "f_conditions",
        """
        SELECT person_id, list_sort(list_distinct(list(code))) AS conditions FROM (
            SELECT person_id, trim(code) AS code FROM (
                SELECT person_id, unnest(conditions) AS code FROM src_ehr
            )
            UNION ALL SELECT person_id, 'pregnancy' FROM f_ehr WHERE is_pregnant
            UNION ALL SELECT b.person_id, 'disability' FROM persons b
                LEFT JOIN f_ehr e USING (person_id)
                LEFT JOIN f_assessment a USING (person_id)
                WHERE coalesce(a.disability_level, e.disability_level, 0) > 0
        ) WHERE code IS NOT NULL AND code <> '' GROUP BY person_id""",
    ),
    Step(
        "f_settlement",
        _latest(
            "insurance",
            "settlement_date DESC NULLS LAST",
            "insurance_type AS settled_insurance, insured_locally",
        ),
    ),
    Step(
        # A settlement exported twice under two record ids is one settlement: DISTINCT over
        # everything that describes it, so it is not paid twice into the household's sum.
        # Sums of yuan are exact DECIMALs: a float sum depends on the order rows arrive in,
        # so one person alone and the whole city could land either side of a threshold.
        "f_oop_person",
        """
        SELECT person_id, sum(CAST(out_of_pocket AS DECIMAL(18, 2))) AS oop FROM (
            SELECT DISTINCT person_id, settlement_date, facility_code, visit_type,
                   total_cost, out_of_pocket
            FROM src_insurance
            WHERE settlement_date > :as_of - INTERVAL 12 MONTH AND settlement_date <= :as_of
        ) GROUP BY person_id""",
    ),
    Step(
        "f_social",
        _latest("social_security", "record_id", "occupation, insurance_type"),
    ),
    Step(
        "f_poverty",
        _latest("poverty", "record_id", "household_id, household_status, income_12m"),
    ),
    Step(
        "f_household_oop",
        """
        SELECT p.household_id, sum(o.oop) AS oop
        FROM f_poverty p JOIN f_oop_person o USING (person_id)
        WHERE p.household_id IS NOT NULL
        GROUP BY p.household_id""",
    ),
    Step(
        "f_survey",
        _latest("survey", "survey_date DESC NULLS LAST", "phq9, gad7"),
    ),
    Step(
        # Residence counts from arrival; a local without an arrival date has lived here
        # since birth; anyone else (no police registration) is unknown.
        "f_since",
        """
        SELECT b.person_id,
               CASE WHEN pol.arrival_date IS NOT NULL THEN pol.arrival_date
                    WHEN coalesce(pol.hukou, b.hukou) = 'local' THEN b.birth_date
               END AS since
        FROM persons b LEFT JOIN f_police pol USING (person_id)""",
    ),
    Step(
        "features",
        """
        SELECT
            b.person_id,
            CASE WHEN b.birth_date IS NULL OR b.birth_date > :as_of THEN NULL
                 ELSE year(:as_of) - year(b.birth_date)
                      - CASE WHEN month(:as_of) * 100 + day(:as_of)
                                  < month(b.birth_date) * 100 + day(b.birth_date)
                             THEN 1 ELSE 0 END
            END AS age,
            b.sex,
            coalesce(pol.hukou, b.hukou) AS hukou,
            CASE WHEN coalesce(pol.hukou, b.hukou) = 'migrant' THEN pol.origin_province END
                AS origin_province,
            CASE WHEN r.since IS NULL OR r.since > :as_of THEN NULL
                 ELSE (year(:as_of) - year(r.since)) * 12 + month(:as_of) - month(r.since)
                      - CASE WHEN day(:as_of) < day(r.since) THEN 1 ELSE 0 END
            END AS residence_months,
            coalesce(pol.has_residence_permit, FALSE) AS has_residence_permit,
            coalesce(pol.moves_12m, 0) AS moves_12m,
            coalesce(soc.occupation, pol.occupation) AS occupation,
            coalesce(soc.insurance_type, st.settled_insurance) AS insurance,
            coalesce(st.insured_locally,
                     soc.insurance_type = 'employee'
                     OR (soc.insurance_type = 'resident'
                         AND coalesce(pol.hukou, b.hukou) = 'local'),
                     FALSE) AS insured_locally,
            coalesce(pov.household_status, 'general') AS household_status,
            CAST(coalesce(hh.oop, op.oop, 0) AS DOUBLE) AS oop_12m,
            coalesce(pov.income_12m, 0.0) AS income_12m,
            coalesce(e.is_pregnant, FALSE) AS is_pregnant,
            coalesce(a.disability_level, e.disability_level, 0) AS disability_level,
            coalesce(hv.lives_alone, e.lives_alone, FALSE) AS lives_alone,
            coalesce(ea.any_signed, FALSE) AS signed_family_doctor,
            coalesce(b.community_code, pol.community_code, e.community_code) AS community,
            ea.last_followup,
            ea.last_followup IS NOT NULL AS ever_followed_up,
            e.sbp, e.dbp, e.glucose,
            sv.phq9, sv.gad7,
            coalesce(v.doses_overdue, 0) AS doses_overdue,
            v.person_id IS NOT NULL AS immunization_record,
            coalesce(c.conditions, []::VARCHAR[]) AS conditions,
            """
        + ", ".join(f"coalesce(nd.{f}, FALSE) AS {f}" for f in NEED_FEATURES)
        + """
        FROM persons b
        LEFT JOIN f_police pol USING (person_id)
        LEFT JOIN f_ehr e USING (person_id)
        LEFT JOIN f_ehr_all ea USING (person_id)
        LEFT JOIN f_conditions c USING (person_id)
        LEFT JOIN f_settlement st USING (person_id)
        LEFT JOIN f_oop_person op USING (person_id)
        LEFT JOIN f_social soc USING (person_id)
        LEFT JOIN f_poverty pov USING (person_id)
        LEFT JOIN f_household_oop hh ON hh.household_id = pov.household_id
        LEFT JOIN f_survey sv USING (person_id)
        LEFT JOIN vaccination v USING (person_id)
        LEFT JOIN f_since r USING (person_id)
        LEFT JOIN f_assessment a USING (person_id)
        LEFT JOIN f_visit hv USING (person_id)
        LEFT JOIN f_needs nd USING (person_id)""",
    ),
)

# What the final step writes, in order (feature dictionary names plus the conditions list).
FEATURE_COLUMNS = (
    "age",
    "sex",
    "hukou",
    "origin_province",
    "residence_months",
    "has_residence_permit",
    "moves_12m",
    "occupation",
    "insurance",
    "insured_locally",
    "household_status",
    "oop_12m",
    "income_12m",
    "is_pregnant",
    "disability_level",
    "lives_alone",
    "signed_family_doctor",
    "community",
    "last_followup",
    "ever_followed_up",
    "sbp",
    "dbp",
    "glucose",
    "phq9",
    "gad7",
    "doses_overdue",
    "immunization_record",
    *NEED_FEATURES,
)

OverdueCounter = Callable[[date, Sequence[date | None], Sequence[str | None]], list[int]]


def empty_source(source: str) -> pa.Table:
    """An input table with no rows and the source's columns (a source may be absent)."""
    fields = [pa.field("person_id", pa.string()), pa.field("record_id", pa.string())]
    fields += [pa.field(name, kind) for name, kind in SOURCE_COLUMNS[source].items()]
    return pa.schema(fields).empty_table()


def source_table(source: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """An input table from plain rows (``person_id``, ``record_id`` and source columns).

    Values are coerced to the column's type; a value that cannot be read is a ValueError
    naming the source and column (ingest has validated them, so this means a bug upstream).
    """
    schema = empty_source(source).schema
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for row in rows:
        for name in columns:
            columns[name].append(row.get(name))
    try:
        return pa.table(
            {f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"source {source}: {exc}") from exc


def persons_table(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The golden records the features start from (one row per person)."""
    schema = pa.schema([pa.field(n, t) for n, t in PERSON_COLUMNS.items()])
    return pa.table(
        {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema},
        schema=schema,
    )


def inputs_for(
    persons: pa.Table, sources: Mapping[str, pa.Table], person_ids: Iterable[str]
) -> tuple[pa.Table, dict[str, pa.Table]]:
    """The inputs that some persons' features need, cut from a whole city's inputs.

    Their golden records and every record of theirs, plus the poverty and settlement records
    of the other members of their registered households (``oop_12m`` sums the household's
    settlements). Features computed from these equal the persons' rows in the full run.
    """
    wanted = pa.array(sorted(set(person_ids)), pa.string())

    def of(table: pa.Table, ids: pa.Array) -> pa.Table:
        return table.filter(pc.is_in(table.column("person_id"), value_set=ids))

    poverty = sources.get("poverty", empty_source("poverty"))
    households = pc.unique(of(poverty, wanted).column("household_id").drop_null())
    members = of(poverty, wanted).column("person_id")
    if len(households):
        in_household = pc.is_in(poverty.column("household_id"), value_set=households)
        members = poverty.filter(in_household).column("person_id")
    household = pc.unique(pa.concat_arrays([wanted, *members.chunks]).cast(pa.string()))
    cut = {
        source: of(table, household if source in HOUSEHOLD_SOURCES else wanted)
        for source, table in sources.items()
    }
    return of(persons, wanted), cut


def _literal(day: date) -> str:
    return f"DATE '{day.isoformat()}'"


def compute_features(
    persons: pa.Table,
    sources: Mapping[str, pa.Table],
    as_of: date,
    count_overdue: OverdueCounter,
    *,
    con: Any = None,
    progress: Callable[[str], None] | None = None,
) -> pa.Table:
    """Every feature for every person in ``persons``, as of ``as_of``.

    Args:
        persons: golden records (:func:`persons_table`).
        sources: source name → input table (:func:`source_table`); missing sources are empty.
        as_of: the evaluation date.
        count_overdue: the vaccination forecaster's batch count
            (``(as_of, births, dose_texts) -> counts``).
        con: a DuckDB connection to run on (a private one by default).
        progress: called with each step's name as it starts.

    Returns:
        One row per person: ``person_id``, :data:`FEATURE_COLUMNS` and ``conditions``.
    """
    import duckdb

    own = con is None
    con = con or duckdb.connect()
    try:
        con.register("persons", persons)
        for source in SOURCE_COLUMNS:
            con.register(f"src_{source}", sources.get(source, empty_source(source)))
        if progress:
            progress("vaccination")
        con.register("vaccination", _vaccination(con, as_of, count_overdue))
        literal = _literal(as_of)
        for step in STEPS:
            if progress:
                progress(step.name)
            con.execute(
                f'CREATE OR REPLACE TEMP TABLE "{step.name}" AS '
                + step.sql.replace(":as_of", literal)
            )
        table = con.sql(
            "SELECT person_id, "
            + ", ".join(FEATURE_COLUMNS)
            + ", conditions FROM features ORDER BY person_id"
        ).to_arrow_table()
        return table
    finally:
        if own:
            con.close()
        else:  # leave the caller's connection as it was
            for step in STEPS:
                con.execute(f'DROP TABLE IF EXISTS "{step.name}"')
            for view in ("persons", "vaccination", *(f"src_{s}" for s in SOURCE_COLUMNS)):
                with contextlib.suppress(Exception):  # not registered: the run failed first
                    con.unregister(view)


def _vaccination(con: Any, as_of: date, count_overdue: OverdueCounter) -> pa.Table:
    """doses_overdue per person listed by the immunization registry."""
    rows = con.sql(
        """
        SELECT i.person_id, any_value(p.birth_date) AS birth_date,
               string_agg(i.doses, '|' ORDER BY i.record_id) AS doses
        FROM src_immunization i JOIN persons p USING (person_id)
        GROUP BY i.person_id ORDER BY i.person_id"""
    ).to_arrow_table()
    births = rows.column("birth_date").to_pylist()
    doses = rows.column("doses").to_pylist()
    counts = count_overdue(as_of, births, doses) if births else []
    return pa.table(
        {
            "person_id": rows.column("person_id"),
            "doses_overdue": pa.array(counts, type=pa.int64()),
        }
    )


def _spark_type(kind: pa.DataType) -> Any:
    from pyspark.sql import types as T

    if pa.types.is_list(kind):
        return T.ArrayType(_spark_type(kind.value_type))
    for check, spark in (
        (pa.types.is_timestamp, T.TimestampType()),
        (pa.types.is_string, T.StringType()),
        (pa.types.is_date, T.DateType()),
        (pa.types.is_boolean, T.BooleanType()),
        (pa.types.is_integer, T.LongType()),
        (pa.types.is_floating, T.DoubleType()),
    ):
        if check(kind):
            return spark
    raise TypeError(f"no Spark type for {kind}")


def _to_spark(spark: Any, table: pa.Table, name: str) -> None:
    from pyspark.sql import types as T

    schema = T.StructType([T.StructField(f.name, _spark_type(f.type), True) for f in table.schema])
    rows = [tuple(row.values()) for row in table.to_pylist()]
    spark.createDataFrame(rows, schema=schema).createOrReplaceTempView(name)


def compute_features_spark(
    persons: pa.Table,
    sources: Mapping[str, pa.Table],
    as_of: date,
    count_overdue: OverdueCounter,
    spark: Any,
) -> pa.Table:
    """The same features on Spark: every step's SQL transpiled from DuckDB's with SQLGlot.

    The vaccination count is the forecaster's Python either way (it is not SQL); it runs
    before the steps, over the immunization registry's rows. For a province that outgrows one
    machine; :func:`compute_features` is the default.
    """
    import duckdb
    import sqlglot

    with duckdb.connect() as con:
        con.register("persons", persons)
        con.register("src_immunization", sources.get("immunization", empty_source("immunization")))
        vaccination = _vaccination(con, as_of, count_overdue)
    _to_spark(spark, persons, "persons")
    for source in SOURCE_COLUMNS:
        _to_spark(spark, sources.get(source, empty_source(source)), f"src_{source}")
    _to_spark(spark, vaccination, "vaccination")
    literal = _literal(as_of)
    for step in STEPS:
        sql = sqlglot.transpile(step.sql.replace(":as_of", literal), read="duckdb", write="spark")
        spark.sql(sql[0]).createOrReplaceTempView(step.name)
    frame = spark.sql(
        "SELECT person_id, " + ", ".join(FEATURE_COLUMNS) + ", conditions FROM features"
    ).toPandas()
    frame = frame.sort_values("person_id", kind="stable").reset_index(drop=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for step in STEPS:
        spark.catalog.dropTempView(step.name)
    return table
