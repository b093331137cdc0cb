"""Feature inputs straight from departmental CSV extracts and a record → person mapping.

The database path (service.py) reads ingested, validated records. This columnar path reads
the same extracts with pyarrow for the features benchmark at city scale and for checking the
features against a generated city's truth; it applies the same readings of dates, booleans,
sex and code lists as ingest, vectorised.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from carematch.profiling.features import PERSON_COLUMNS, SOURCE_COLUMNS, empty_source

_TRUE = ("true", "1", "yes", "y", "是", "t")
_FALSE = ("false", "0", "no", "n", "否", "f")
_SEX = {"M": "M", "F": "F", "男": "M", "女": "F", "m": "M", "f": "F", "1": "M", "2": "F"}


# Survivorship order for the golden stand-ins: the most trusted source first.
SOURCE_ORDER = (
    "police",
    "ehr",
    "social_security",
    "insurance",
    "poverty",
    "immunization",
    "survey",
)


def read_mapping(path: Path) -> pa.Table:
    """``source,record_id,person_id`` (the output of ``carematch link`` or a city's truth)."""
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in ("source", "record_id", "person_id")}
        ),
    )


def _text_table(path: Path) -> pa.Table:
    names = pacsv.read_csv(path, read_options=pacsv.ReadOptions(skip_rows_after_names=0))
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in names.column_names},
            strings_can_be_null=True,
        ),
    )


def _date(column: pa.ChunkedArray) -> pa.Array:
    text = pc.replace_substring_regex(column, r"[/.]", "-")
    # Eight digits without separators (20240131) also occur in extracts.
    text = pc.replace_substring_regex(text, r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3")
    stamp = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.cast(stamp, pa.date32())


def _bool(column: pa.ChunkedArray) -> pa.Array:
    low = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    return pc.if_else(
        pc.is_in(low, pa.array(_TRUE)),
        True,
        pc.if_else(pc.is_in(low, pa.array(_FALSE)), False, pa.scalar(None, pa.bool_())),
    )


def _number(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    text = pc.utf8_trim_whitespace(column)
    valid = pc.match_substring_regex(text, r"^-?\d+(\.\d+)?$")
    as_float = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.float64())
    return pc.cast(pc.floor(as_float), kind) if pa.types.is_integer(kind) else as_float


def _typed(column: pa.ChunkedArray, kind: pa.DataType) -> pa.Array:
    if pa.types.is_date(kind):
        return _date(column)
    if pa.types.is_boolean(kind):
        return _bool(column)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _number(column, kind)
    if pa.types.is_list(kind):
        return pc.split_pattern_regex(pc.utf8_trim_whitespace(column), r"[;,；，|]")
    return column


def source_from_csv(source: str, path: Path, mapping: pa.Table) -> pa.Table:
    """One source's input table: its records joined to their persons, typed like ingest."""
    if not path.is_file():
        return empty_source(source)
    raw = _text_table(path)
    owners = mapping.filter(pc.equal(mapping.column("source"), source)).select(
        ["record_id", "person_id"]
    )
    joined = raw.join(owners, "record_id", join_type="inner")
    schema = empty_source(source).schema
    columns = {}
    for field in schema:
        if field.name in joined.column_names:
            columns[field.name] = _typed(joined.column(field.name), field.type)
        else:
            columns[field.name] = pa.nulls(joined.num_rows, field.type)
    return pa.table(columns, schema=schema)


def sources_from_city(city: Path, mapping: pa.Table) -> dict[str, pa.Table]:
    """Every source's input table from a city directory's extracts."""
    return {s: source_from_csv(s, city / f"{s}.csv", mapping) for s in SOURCE_COLUMNS}


def persons_from_sources(city: Path, mapping: pa.Table) -> pa.Table:
    """Golden-record stand-ins (sex, birth date, community) from the police and EHR extracts.

    The database path uses the persons table; here each field comes from the person's most
    trusted record that has it (:data:`SOURCE_ORDER`), as survivorship does.
    """
    import duckdb

    con = duckdb.connect()
    parts = []
    for rank, source in enumerate(SOURCE_ORDER):
        path = city / f"{source}.csv"
        if not path.is_file():
            continue
        raw = _text_table(path)
        owners = mapping.filter(pc.equal(mapping.column("source"), source)).select(
            ["record_id", "person_id"]
        )
        joined = raw.join(owners, "record_id", join_type="inner")
        sex = pc.utf8_trim_whitespace(joined.column("sex"))
        parts.append(
            pa.table(
                {
                    "person_id": joined.column("person_id"),
                    "rank": pa.array([rank] * joined.num_rows, pa.int8()),
                    "record_id": joined.column("record_id"),
                    "sex": _sex(sex),
                    "birth_date": _date(joined.column("birth_date")),
                    "community_code": joined.column("community_code")
                    if "community_code" in joined.column_names
                    else pa.nulls(joined.num_rows, pa.string()),
                    "hukou": joined.column("hukou")
                    if "hukou" in joined.column_names
                    else pa.nulls(joined.num_rows, pa.string()),
                }
            )
        )
    con.register("candidates", pa.concat_tables(parts))
    columns = ", ".join(f"{c}" for c in PERSON_COLUMNS)
    persons = con.sql(
        f"""
        SELECT {columns} FROM (
            SELECT person_id,
                   first(sex ORDER BY sex IS NULL, rank, record_id) AS sex,
                   first(birth_date ORDER BY birth_date IS NULL, rank, record_id) AS birth_date,
                   first(community_code ORDER BY community_code IS NULL, rank, record_id)
                       AS community_code,
                   first(hukou ORDER BY hukou IS NULL, rank, record_id) AS hukou
            FROM candidates GROUP BY person_id
        ) ORDER BY person_id"""
    ).to_arrow_table()
    con.close()
    assert persons is not None
    return persons.cast(pa.schema([pa.field(n, t) for n, t in PERSON_COLUMNS.items()]))


def _sex(column: pa.ChunkedArray) -> pa.Array:
    keys = pa.array(list(_SEX))
    values = pa.array(list(_SEX.values()))
    index = pc.index_in(column, value_set=keys)
    return pc.take(values, index)
