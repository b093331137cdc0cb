"""Compiling to SQL: the options, and SQL that stays safe whatever the names and strings."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
import sqlglot

from carematch.rules import DIALECTS, FeatureDictionary, load_rule
from tests.rules.engines import arrow_table
from tests.rules.generate import Person
from tests.rules.test_semantics import base_values


@pytest.mark.parametrize("dialect", DIALECTS)
def test_output_parses_in_its_own_dialect(dictionary: FeatureDictionary, dialect: str) -> None:
    rule = load_rule(
        "hukou == 'migrant' and has('hypertension') and days_since(last_followup) / 30 > 3"
        " and community not in ['a', 'b''c'] and -glucose < 0.5",
        dictionary,
    )
    sql = rule.to_sql(dialect, evaluation_date=date(2024, 3, 1))
    sqlglot.parse_one(sql, read=dialect)  # raises if not valid
    assert sql.startswith("COALESCE(")


def test_unknown_dialect(dictionary: FeatureDictionary) -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect 'mysql'"):
        load_rule("age > 1", dictionary).to_sql("mysql")


def test_days_since_needs_an_evaluation_date(dictionary: FeatureDictionary) -> None:
    rule = load_rule("days_since(last_followup) > 1", dictionary)
    with pytest.raises(ValueError, match="give evaluation_date"):
        rule.to_sql("duckdb")
    with pytest.raises(ValueError, match="looks like a date"):
        rule.to_sql("duckdb", evaluation_date="2024-03-01")


def test_columns_are_quoted_and_qualified(dictionary: FeatureDictionary) -> None:
    rule = load_rule("age > 1 and has('tb')", dictionary)
    assert rule.to_sql("duckdb", table="f", conditions_column="codes") == (
        'COALESCE(("f"."age" > 1) AND COALESCE(ARRAY_CONTAINS("f"."codes", \'tb\'), FALSE), FALSE)'
    )
    assert "`f`.`age`" in rule.to_sql("spark", table="f")


def test_without_null_as_false_the_expression_is_three_valued(
    dictionary: FeatureDictionary, duck: Any
) -> None:
    rule = load_rule("age > 60", dictionary)
    people = [Person({**base_values(dictionary), "age": None}, None)]
    duck.register("persons", arrow_table(dictionary, people))
    try:
        verdict = duck.execute(f"SELECT {rule.to_sql('duckdb')} FROM persons").fetchall()
        value = duck.execute(
            f"SELECT {rule.to_sql('duckdb', null_as_false=False)} FROM persons"
        ).fetchall()
    finally:
        duck.unregister("persons")
    assert verdict == [(False,)]
    assert value == [(None,)]


HOSTILE = [
    "'; DROP TABLE persons; --",
    "\\'; DROP TABLE persons; --",
    "a\\",
    '"',
    "`",
    "$$",
    "社区'\"\\",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_strings_cannot_escape_their_literal(
    dictionary: FeatureDictionary, duck: Any, text: str
) -> None:
    rule = load_rule(f"community == {text!r}", dictionary)
    people = [
        Person({**base_values(dictionary), "community": value}, [])
        for value in (text, text + "x", "other")
    ]
    duck.register("persons", arrow_table(dictionary, people))
    try:
        rows = duck.execute(f"SELECT {rule.to_sql('duckdb')} FROM persons ORDER BY id").fetchall()
    finally:
        duck.unregister("persons")
    assert rows == [(True,), (False,), (False,)]
    for dialect in DIALECTS:
        # One expression whose only string literal is the rule's string, unchanged.
        tree = sqlglot.parse_one(rule.to_sql(dialect), read=dialect)
        literals = [node.this for node in tree.find_all(sqlglot.exp.Literal) if node.is_string]
        assert literals == [text]


def test_odd_column_names_are_quoted(dictionary: FeatureDictionary, duck: Any) -> None:
    rule = load_rule("has('tb') and days_since(last_followup) > 0", dictionary)
    sql = rule.to_sql("duckdb", conditions_column='co"des', evaluation_date="select")
    duck.execute(
        'CREATE OR REPLACE TEMP TABLE odd AS SELECT [\'tb\'] AS "co""des", '
        "DATE '2024-01-01' AS last_followup, DATE '2024-01-02' AS \"select\""
    )
    assert duck.execute(f"SELECT {sql} FROM odd").fetchall() == [(True,)]
