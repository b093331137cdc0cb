"""Put persons into each engine as a features table, and read a query's answers back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from carematch.rules import FeatureDictionary, FeatureType
from tests.rules.generate import Person

ARROW_TYPES = {
    FeatureType.INT: pa.int64(),
    FeatureType.FLOAT: pa.float64(),
    FeatureType.STR: pa.string(),
    FeatureType.BOOL: pa.bool_(),
    FeatureType.DATE: pa.date32(),
}
POSTGRES_TYPES = {
    FeatureType.INT: "bigint",
    FeatureType.FLOAT: "double precision",
    FeatureType.STR: "text",
    FeatureType.BOOL: "boolean",
    FeatureType.DATE: "date",
}
SPARK_TYPES = {
    FeatureType.INT: "bigint",
    FeatureType.FLOAT: "double",
    FeatureType.STR: "string",
    FeatureType.BOOL: "boolean",
    FeatureType.DATE: "date",
}


def arrow_table(
    dictionary: FeatureDictionary, people: Sequence[Person], extra: dict[str, Any] | None = None
) -> pa.Table:
    """One row per person: ``id``, a typed column per feature, ``conditions`` (list<string>)."""
    columns: dict[str, pa.Array] = {"id": pa.array(range(len(people)), pa.int64())}
    for name, feature in dictionary.items():
        columns[name] = pa.array([p.values[name] for p in people], ARROW_TYPES[feature.type])
    columns["conditions"] = pa.array([p.conditions for p in people], pa.list_(pa.string()))
    for name, values in (extra or {}).items():
        columns[name] = pa.array(values)
    return pa.table(columns)


def postgres_table(conn: Any, dictionary: FeatureDictionary, people: Sequence[Person]) -> None:
    """A TEMP table ``persons`` on a psycopg connection (private to it, dropped with it)."""
    columns = ["id bigint"] + [
        f'"{name}" {POSTGRES_TYPES[feature.type]}' for name, feature in dictionary.items()
    ]
    conn.execute("DROP TABLE IF EXISTS persons")
    conn.execute(f"CREATE TEMP TABLE persons ({', '.join(columns)}, conditions text[])")
    names = ["id", *(f'"{name}"' for name in dictionary), "conditions"]
    placeholders = ", ".join(["%s"] * len(names))
    with conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO persons ({', '.join(names)}) VALUES ({placeholders})",
            [
                (i, *(p.values[name] for name in dictionary), p.conditions)
                for i, p in enumerate(people)
            ],
        )


def spark_schema(dictionary: FeatureDictionary) -> str:
    """A DDL schema string for ``spark.createDataFrame``."""
    fields = ["id bigint"] + [
        f"`{name}` {SPARK_TYPES[feature.type]}" for name, feature in dictionary.items()
    ]
    return ", ".join([*fields, "conditions array<string>"])


def spark_rows(dictionary: FeatureDictionary, people: Sequence[Person]) -> list[tuple[Any, ...]]:
    return [
        (i, *(p.values[name] for name in dictionary), p.conditions) for i, p in enumerate(people)
    ]
