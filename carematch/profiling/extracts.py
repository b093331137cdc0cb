"""Feature inputs straight from departmental CSV extracts and a record → person mapping.

The database path (service.py) reads ingested, validated records. This columnar path reads
the same extracts with pyarrow for the features benchmark at city scale and for checking the
features against a generated city's truth; it applies the same readings of dates, booleans,
sex and code lists as ingest (carematch.identity.ingest), vectorised. Ingest also refuses
some rows (impossible dates, numbers out of range, unknown codes); here such a value is read
as unknown instead, so a row is never lost.

The mapping is ``source,record_id,person_id``: what ``carematch link`` writes, or a generated
city's ``truth/records.csv``, which has the same shape.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from carematch.profiling.features import PERSON_COLUMNS, SOURCE_COLUMNS, empty_source

# The yes/no and sex spellings ingest accepts (after NFKC and lower-casing).
_TRUE = ("1", "true", "t", "yes", "y", "是", "有")
_FALSE = ("0", "false", "f", "no", "n", "否", "无")
_SEX = {"m": "M", "male": "M", "男": "M", "1": "M", "f": "F", "female": "F", "女": "F", "2": "F"}
# Every date format ingest reads, rewritten to Y-M-D (month and day may have one digit).
_DATE_REWRITES = (
    (r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$", r"\1-\2-\3"),
    (r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3"),
    (r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$", r"\1-\2-\3"),
)

# Survivorship order for the golden stand-ins: the most trusted source first, as ingest's
# source trust ranks them (police 10, poverty 15, ehr 20, … survey 60).
SOURCE_ORDER = (
    "police",
    "poverty",
    "ehr",
    "immunization",
    "insurance",
    "social_security",
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


def _header(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _text_table(path: Path) -> pa.Table:
    """Every column as text (NULL for an empty cell), NFKC-normalised and trimmed like ingest."""
    raw = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in _header(path)},
            strings_can_be_null=True,
        ),
    )
    return pa.table(
        {
            name: pc.utf8_trim_whitespace(pc.utf8_normalize(raw.column(name), form="NFKC"))
            for name in raw.column_names
        }
    )


def _linked(source: str, path: Path, mapping: pa.Table) -> pa.Table | None:
    """A source's text rows that the mapping assigns to a person, with ``person_id``."""
    if not path.is_file():
        return None
    owners = mapping.filter(pc.equal(mapping.column("source"), source)).select(
        ["record_id", "person_id"]
    )
    return _text_table(path).join(owners, "record_id", join_type="inner")


def _date(column: pa.ChunkedArray) -> pa.ChunkedArray:
    text = column
    for pattern, replacement in _DATE_REWRITES:
        text = pc.replace_substring_regex(text, pattern, replacement)
    parts = pc.extract_regex(text, r"^(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})$")
    day = pc.cast(pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
    # strptime rolls 2001-02-29 over to 1 March; ingest refuses an impossible date, and here
    # it is unknown: keep a day only when it reads back as the same year, month and day.
    same = pc.and_(
        pc.and_(
            pc.equal(pc.year(day), pc.cast(pc.struct_field(parts, "y"), pa.int64())),
            pc.equal(pc.month(day), pc.cast(pc.struct_field(parts, "m"), pa.int64())),
        ),
        pc.equal(pc.day(day), pc.cast(pc.struct_field(parts, "d"), pa.int64())),
    )
    return pc.if_else(same, day, pa.scalar(None, pa.date32()))


def _bool(column: pa.ChunkedArray) -> pa.ChunkedArray:
    low = pc.utf8_lower(column)
    return pc.if_else(
        pc.is_in(low, pa.array(_TRUE)),
        True,
        pc.if_else(pc.is_in(low, pa.array(_FALSE)), False, pa.scalar(None, pa.bool_())),
    )


def _number(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    valid = pc.match_substring_regex(column, r"^-?\d+(\.\d+)?$")
    as_float = pc.cast(pc.if_else(valid, column, pa.scalar(None, pa.string())), pa.float64())
    return pc.cast(pc.floor(as_float), kind) if pa.types.is_integer(kind) else as_float


def _codes(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """``a;b, c`` → ``[a, b, c]``: split on the separators ingest accepts, trimmed."""
    return pc.split_pattern_regex(column, r"\s*[;,；，|]\s*")


def _sex(column: pa.ChunkedArray) -> pa.ChunkedArray:
    index = pc.index_in(pc.utf8_lower(column), value_set=pa.array(list(_SEX)))
    return pc.take(pa.array(list(_SEX.values())), index)


def _typed(column: pa.ChunkedArray, kind: pa.DataType) -> pa.ChunkedArray:
    if pa.types.is_date(kind):
        return _date(column)
    if pa.types.is_boolean(kind):
        return _bool(column)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return _number(column, kind)
    if pa.types.is_list(kind):
        return _codes(column)
    return column


def _source_table(source: str, linked: pa.Table | None) -> pa.Table:
    """One source's input table from its linked text rows, typed like ingest."""
    if linked is None:
        return empty_source(source)
    schema = empty_source(source).schema
    columns = {}
    for field in schema:
        if field.name in linked.column_names:
            columns[field.name] = _typed(linked.column(field.name), field.type)
        else:
            columns[field.name] = pa.nulls(linked.num_rows, field.type)
    return pa.table(columns, schema=schema)


def source_from_csv(source: str, path: Path, mapping: pa.Table) -> pa.Table:
    """One source's input table: its records joined to their persons, typed like ingest."""
    return _source_table(source, _linked(source, path, mapping))


def read_city(city: Path, mapping: pa.Table) -> tuple[pa.Table, dict[str, pa.Table]]:
    """Golden-record stand-ins and every source's input table, each extract read once.

    Returns:
        ``(persons, sources)`` as :func:`carematch.profiling.features.compute_features`
        takes them.
    """
    linked = {s: _linked(s, city / f"{s}.csv", mapping) for s in SOURCE_COLUMNS}
    sources = {s: _source_table(s, rows) for s, rows in linked.items()}
    return _golden(linked), sources


def sources_from_city(city: Path, mapping: pa.Table) -> dict[str, pa.Table]:
    """Every source's input table from a city directory's extracts."""
    return {s: source_from_csv(s, city / f"{s}.csv", mapping) for s in SOURCE_COLUMNS}


def persons_from_sources(city: Path, mapping: pa.Table) -> pa.Table:
    """Golden-record stand-ins (sex, birth date, community, hukou) from the extracts.

    The database path uses the persons table; here each field comes from the person's most
    trusted record that has it (:data:`SOURCE_ORDER`), as survivorship does.
    """
    return _golden({s: _linked(s, city / f"{s}.csv", mapping) for s in SOURCE_ORDER})


def _golden(linked: dict[str, pa.Table | None]) -> pa.Table:
    import duckdb

    schema = pa.schema([pa.field(n, t) for n, t in PERSON_COLUMNS.items()])
    parts = []
    for rank, source in enumerate(SOURCE_ORDER):
        rows = linked.get(source)
        if rows is None:
            continue

        def text(name: str, rows: pa.Table = rows) -> pa.ChunkedArray:
            if name in rows.column_names:
                return rows.column(name)
            return pa.chunked_array([pa.nulls(rows.num_rows, pa.string())], pa.string())

        parts.append(
            pa.table(
                {
                    "person_id": rows.column("person_id"),
                    "rank": pa.array([rank] * rows.num_rows, pa.int8()),
                    "record_id": rows.column("record_id"),
                    "sex": _sex(text("sex")),
                    "birth_date": _date(text("birth_date")),
                    "community_code": text("community_code"),
                    "hukou": text("hukou"),
                }
            )
        )
    if not parts:
        return schema.empty_table()
    con = duckdb.connect()
    try:
        con.register("candidates", pa.concat_tables(parts, promote_options="permissive"))
        persons = con.sql(
            """
            SELECT person_id,
                   first(sex ORDER BY sex IS NULL, rank, record_id) AS sex,
                   first(birth_date ORDER BY birth_date IS NULL, rank, record_id) AS birth_date,
                   first(community_code ORDER BY community_code IS NULL, rank, record_id)
                       AS community_code,
                   first(hukou ORDER BY hukou IS NULL, rank, record_id) AS hukou
            FROM candidates GROUP BY person_id ORDER BY person_id"""
        ).to_arrow_table()
    finally:
        con.close()
    return persons.cast(schema)
