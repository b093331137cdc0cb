"""The batch path (compiled SQL) and the online path (Python) give the same answer (issue 4).

Random persons — NULLs, both zeros, boundaries, overflowing doubles, odd strings, NULL arrays
and NULL elements — against random well-typed rules: each rule is evaluated in Python for
every person and through its SQL over a table of the same persons, and the answers must be
identical, three-valued (NULL stays NULL) and as verdicts (NULL counts as false). DuckDB gets
the hypothesis test; PostgreSQL and Spark a fixed sample, all rules in one query.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carematch.rules import FeatureDictionary, load_rule, load_rules
from tests.fixtures.env import missing
from tests.rules.conftest import DICTIONARY_PATH
from tests.rules.engines import arrow_table, postgres_table, spark_rows, spark_schema
from tests.rules.generate import Person, fixed_sample, persons, rules

# Strategies are built at import time, from the same file the `dictionary` fixture loads.
DICTIONARY = FeatureDictionary.from_yaml(DICTIONARY_PATH)
evaluation_dates = st.dates(date(2020, 1, 1), date(2030, 12, 31))


def python_answers(rule: Any, people: list[Person], today: date) -> list[bool | None]:
    return [
        rule.truth_value(p.values, conditions=p.conditions, evaluation_date=today) for p in people
    ]


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    text=rules(DICTIONARY),
    people=st.lists(persons(DICTIONARY), min_size=1, max_size=12),
    today=evaluation_dates,
)
def test_duckdb_and_python_agree(
    duck: duckdb.DuckDBPyConnection, text: str, people: list[Person], today: date
) -> None:
    rule = load_rule(text, DICTIONARY, "generated")
    expected = python_answers(rule, people, today)

    duck.register("persons", arrow_table(DICTIONARY, people))
    try:
        three_valued = rule.to_sql("duckdb", evaluation_date=today, null_as_false=False)
        verdict = rule.to_sql("duckdb", evaluation_date=today)
        rows = duck.execute(f"SELECT {three_valued}, {verdict} FROM persons ORDER BY id").fetchall()
    finally:
        duck.unregister("persons")

    assert [row[0] for row in rows] == expected, rule.to_sql("duckdb", evaluation_date=today)
    assert [row[1] for row in rows] == [answer is True for answer in expected]


@settings(max_examples=300, deadline=None)
@given(
    text=rules(DICTIONARY),
    first=persons(DICTIONARY),
    second=persons(DICTIONARY),
    today=evaluation_dates,
)
def test_explanation_holds_everything_that_decided(
    text: str, first: Person, second: Person, today: date
) -> None:
    """Whatever the explanation leaves out can change without changing the result."""
    rule = load_rule(text, DICTIONARY, "generated")
    outcome = rule.outcome(first.values, conditions=first.conditions, evaluation_date=today)
    because = outcome.because

    tested = {key[5:-2] for key in because if key.startswith("has('")}
    assert set(because) - {f"has('{code}')" for code in tested} <= set(rule.features)
    assert tested <= set(rule.conditions)
    mixed_values = {
        name: first.values[name] if name in because else second.values[name] for name in DICTIONARY
    }
    mixed_conditions = {c for c in first.conditions or () if c in tested} | {
        c for c in second.conditions or () if c not in tested
    }
    again = rule.truth_value(mixed_values, conditions=mixed_conditions, evaluation_date=today)
    assert again == outcome.value


def _fixed_rule_set(count: int, people: int, seed: int, huge: bool) -> tuple[Any, list[Person]]:
    texts, sample = fixed_sample(DICTIONARY, count, people, seed, huge)
    rule_set = load_rules([{"id": f"r{i}", "rule": t} for i, t in enumerate(texts)], DICTIONARY)
    return rule_set, sample


TODAY = date(2025, 3, 1)


@pytest.mark.postgres
def test_postgres_and_python_agree(postgres: Any) -> None:
    # PostgreSQL raises on a double overflow where Python, DuckDB and Spark give inf, so its
    # sample has no huge values (docs/rules.md, "Numbers").
    rule_set, people = _fixed_rule_set(400, 60, seed=20260401, huge=False)
    postgres_table(postgres, DICTIONARY, people)

    query = rule_set.to_select(
        "persons", "postgres", keys=["id"], evaluation_date=TODAY, null_as_false=False
    )
    rows = postgres.execute(query + " ORDER BY id").fetchall()

    for column, (rule_id, rule) in enumerate(rule_set.items(), start=1):
        got = [row[column] for row in rows]
        assert got == python_answers(rule, people, TODAY), (rule_id, rule.text)


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing("Spark (pyspark + Java)")
    if _java() is None:
        missing("Spark (pyspark + Java)")
    from carematch.identity.spark import local_session, stop_session

    session = local_session("carematch-rules-test")
    try:
        yield session
    finally:
        stop_session()


@pytest.mark.slow
def test_spark_and_python_agree(spark: Any) -> None:
    rule_set, people = _fixed_rule_set(150, 40, seed=20260402, huge=True)
    # The evaluation date as a column this time, a different one per person.
    dates = [TODAY + timedelta(days=37 * i) for i in range(len(people))]
    rows_in = [(*row, d) for row, d in zip(spark_rows(DICTIONARY, people), dates, strict=True)]
    frame = spark.createDataFrame(rows_in, spark_schema(DICTIONARY) + ", as_of date")
    frame.createOrReplaceTempView("persons")

    query = rule_set.to_select(
        "persons", "spark", keys=["id"], evaluation_date="as_of", null_as_false=False
    )
    rows = sorted(spark.sql(query).collect(), key=lambda row: row[0])

    for column, (rule_id, rule) in enumerate(rule_set.items(), start=1):
        got = [row[column] for row in rows]
        expected = [
            rule.truth_value(p.values, conditions=p.conditions, evaluation_date=d)
            for p, d in zip(people, dates, strict=True)
        ]
        assert got == expected, (rule_id, rule.text)
