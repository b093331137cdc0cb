"""The language's semantics, case by case, on every path: Python, DuckDB, PostgreSQL.

Each expected answer comes from the definition in docs/rules.md (three-valued logic, true
division with x / 0 NULL, IEEE doubles, code-point string order, has() never NULL), worked
out by hand in the comment beside it; where an engine's own default differs, the comment
says how, so these cases are the ones a careless compiler gets wrong.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from carematch.rules import FeatureDictionary, FeatureType, load_rule
from tests.fixtures.env import missing
from tests.rules.engines import arrow_table, postgres_table
from tests.rules.generate import Person

TODAY = date(2024, 3, 1)


def base_values(dictionary: FeatureDictionary) -> dict[str, Any]:
    """Every feature unknown, except those that cannot be (given a neutral value)."""
    neutral = {
        FeatureType.INT: 0,
        FeatureType.FLOAT: 0.0,
        FeatureType.BOOL: False,
        FeatureType.STR: "general",
    }
    return {
        name: None if feature.nullable else neutral[feature.type]
        for name, feature in dictionary.items()
    }


# (rule, feature values, conditions, expected three-valued answer)
CASES: list[tuple[str, dict[str, Any], list[str | None] | None, bool | None]] = [
    # -- division: true division, never integer; x / 0 is NULL, not an error or inf
    ("residence_months / 24 == 0.5", {"residence_months": 12}, [], True),  # PG int: 0
    ("7 / 2 == 3.5", {}, [], True),
    ("residence_months / 0 > 1", {"residence_months": 12}, [], None),
    ("residence_months / moves_12m < 1", {"residence_months": 12, "moves_12m": 0}, [], None),
    ("oop_12m / -0.0 < 0", {"oop_12m": 5.0}, [], None),  # -0.0 is zero too
    ("not (residence_months / 0 > 1)", {"residence_months": 12}, [], None),
    # -- arithmetic is double precision: no integer overflow, IEEE rounding
    ("age * 1000000000 * 1000000000 * 1000000000 > 0", {"age": 5}, [], True),  # BIGINT: error
    ("0.1 + 0.2 == 0.3", {}, [], False),  # exact DECIMAL literals would say true
    ("glucose * 3 == 0.30000000000000004", {"glucose": 0.1}, [], True),
    ("glucose == 0.1", {"glucose": 0.1}, [], True),
    ("age == 45.0", {"age": 45}, [], True),
    ("age < 45.5", {"age": 45}, [], True),
    ("age / 3 * 3 == age", {"age": 45}, [], True),
    ("-age == 0", {"age": 0}, [], True),
    ("age + 9007199254740992 > 9007199254740992", {"age": 1}, [], False),  # 2**53 + 1 rounds
    # -- three-valued logic; NULL only becomes false at the top
    ("age > 60", {"age": None}, [], None),
    ("not (age > 60)", {"age": None}, [], None),
    ("age > 60 or has('tb')", {"age": None}, ["tb"], True),
    ("age > 60 or has('tb')", {"age": None}, [], None),
    ("age > 60 and has('tb')", {"age": None}, [], False),
    ("age > 60 and has('tb')", {"age": None}, ["tb"], None),
    ("18 <= age < 60", {"age": 60}, [], False),
    ("18 <= age < 60", {"age": 18}, [], True),
    ("sbp > 140 or dbp > 90", {"sbp": 120, "dbp": None}, [], None),
    ("sbp > 140 or dbp > 90", {"sbp": 150, "dbp": None}, [], True),
    # -- in / not in with NULL
    ("age in [1, 2]", {"age": None}, [], None),
    ("age not in [1, 2]", {"age": None}, [], None),
    ("age not in [1, 2]", {"age": 3}, [], True),
    ("age in [1, 2.0]", {"age": 2}, [], True),
    ("hukou in ['migrant']", {"hukou": "migrant"}, [], True),
    ("hukou not in ['migrant']", {"hukou": "local"}, [], True),
    # -- has(): never NULL; a NULL array or a NULL element is just "not there"
    ("has('tb')", {}, None, False),
    ("not has('tb')", {}, None, True),
    ("has('tb')", {}, ["hypertension", None], False),  # Spark/PG: NULL without COALESCE
    ("has('tb')", {}, [None, "tb"], True),
    # -- days_since(): whole days to the evaluation date (2024 is a leap year)
    ("days_since(last_followup) == 3", {"last_followup": date(2024, 2, 27)}, [], True),
    ("days_since(last_followup) == -1", {"last_followup": date(2024, 3, 2)}, [], True),
    ("days_since(last_followup) > 90", {"last_followup": None}, [], None),
    ("days_since(last_followup) / 7 == 0.5", {"last_followup": date(2024, 2, 28)}, [], False),
    # -- strings: exact, by code point, whatever the locale
    ("community < 'b'", {"community": "B"}, [], True),  # 'B' is U+0042, 'b' U+0062
    ("community > 'z'", {"community": "é"}, [], True),  # U+00E9 > U+007A
    ("community < '社区2'", {"community": "社区10"}, [], True),  # '1' < '2': no numeric sort
    ("community == 'a '", {"community": "a"}, [], False),  # no blank padding
    ("community == 'b\\'c'", {"community": "b'c"}, [], True),
    ("community == 'x\\\\y'", {"community": "x\\y"}, [], True),
    ("community == ''", {"community": ""}, [], True),  # empty is a value, not NULL
    # -- booleans
    ("lives_alone == False", {"lives_alone": False}, [], True),
    ("lives_alone != is_pregnant", {"lives_alone": True, "is_pregnant": False}, [], True),
    ("lives_alone in [True]", {"lives_alone": False}, [], False),
]

# Overflow: IEEE inf and NaN on Python and DuckDB (and Spark); PostgreSQL raises instead.
OVERFLOW_CASES: list[tuple[str, dict[str, Any], list[str | None] | None, bool | None]] = [
    ("glucose * 1e300 * 1e300 > 1e300", {"glucose": 1.0}, [], True),  # inf
    ("glucose * 1e300 * 1e300 == glucose * 1e300 * 1e300", {"glucose": 1.0}, [], True),
    # inf - inf is NaN; SQL orders NaN equal to itself and above everything, Python doesn't
    (
        "glucose * 1e300 * 1e300 - glucose * 1e300 * 1e300 == oop_12m * 1e300 * 1e300 - oop_12m "
        "* 1e300 * 1e300",
        {"glucose": 1.0, "oop_12m": 2.0},
        [],
        True,
    ),
    (
        "glucose * 1e300 * 1e300 - glucose * 1e300 * 1e300 > glucose * 1e300 * 1e300",
        {"glucose": 1.0},
        [],
        True,
    ),
    ("glucose * 1e300 * 1e300 - glucose * 1e300 * 1e300 in [1.5]", {"glucose": 1.0}, [], False),
]


def _person(dictionary: FeatureDictionary, values: dict[str, Any], conditions: Any) -> Person:
    return Person({**base_values(dictionary), **values}, conditions)


def _ids(cases: list[Any]) -> list[str]:
    return [f"{text} | {values}" for text, values, _, _ in cases]


@pytest.mark.parametrize(
    ("text", "values", "conditions", "expected"),
    CASES + OVERFLOW_CASES,
    ids=_ids(CASES + OVERFLOW_CASES),
)
def test_python(
    dictionary: FeatureDictionary,
    text: str,
    values: dict[str, Any],
    conditions: list[str | None] | None,
    expected: bool | None,
) -> None:
    rule = load_rule(text, dictionary, "case")
    person = _person(dictionary, values, conditions)
    got = rule.truth_value(person.values, conditions=person.conditions, evaluation_date=TODAY)
    assert got is expected
    verdict = rule.evaluate(person.values, conditions=person.conditions, evaluation_date=TODAY)
    assert verdict is (expected is True)


def _run_all(
    dictionary: FeatureDictionary,
    cases: list[tuple[str, dict[str, Any], Any, bool | None]],
    run: Any,
    dialect: str,
) -> None:
    """All cases in one query: one row per case, one column per case's rule."""
    columns = [
        load_rule(text, dictionary, "case").to_sql(
            dialect, evaluation_date=TODAY, null_as_false=False
        )
        for text, _, _, _ in cases
    ]
    # Row i answers case i's rule for case i's person.
    selects = ", ".join(f"CASE WHEN id = {i} THEN {sql} END" for i, sql in enumerate(columns))
    rows = run(f"SELECT id, {selects} FROM persons ORDER BY id")
    for i, (text, values, _, expected) in enumerate(cases):
        assert rows[i][i + 1] is expected, (text, values, columns[i])


def test_duckdb(dictionary: FeatureDictionary, duck: Any) -> None:
    cases = CASES + OVERFLOW_CASES
    people = [_person(dictionary, values, conditions) for _, values, conditions, _ in cases]
    duck.register("persons", arrow_table(dictionary, people))
    try:
        _run_all(dictionary, cases, lambda q: duck.execute(q).fetchall(), "duckdb")
    finally:
        duck.unregister("persons")


@pytest.mark.postgres
def test_postgres(dictionary: FeatureDictionary, postgres: Any) -> None:
    people = [_person(dictionary, values, conditions) for _, values, conditions, _ in CASES]
    postgres_table(postgres, dictionary, people)
    _run_all(dictionary, CASES, lambda q: postgres.execute(q).fetchall(), "postgres")


@pytest.mark.postgres
def test_postgres_orders_strings_by_code_point_under_any_collation(
    dictionary: FeatureDictionary, postgres: Any
) -> None:
    """A column with a linguistic collation still compares as Python does."""
    collation = postgres.execute(
        "SELECT collname FROM pg_collation WHERE collname IN ('und-x-icu', 'en_US', 'en_US.utf8')"
        " ORDER BY collname DESC LIMIT 1"
    ).fetchone()
    if collation is None:
        missing("a linguistic collation (ICU or en_US) on the PostgreSQL server")
    name = collation[0]
    postgres.execute("DROP TABLE IF EXISTS words")
    postgres.execute(f'CREATE TEMP TABLE words (community text COLLATE "{name}")')
    postgres.execute("INSERT INTO words VALUES ('B')")
    # The collation really does order differently (lower case first), so the test can fail:
    assert postgres.execute("SELECT community < 'b' FROM words").fetchone() == (False,)
    rule = load_rule("community < 'b'", dictionary)
    assert postgres.execute(f"SELECT {rule.to_sql('postgres')} FROM words").fetchone() == (True,)
    assert rule.evaluate({"community": "B"})


def test_the_evaluation_date_may_be_a_column(dictionary: FeatureDictionary, duck: Any) -> None:
    rule = load_rule("days_since(last_followup) > 30", dictionary)
    base = base_values(dictionary)
    people = [Person({**base, "last_followup": date(2024, 1, 1)}, []) for _ in range(2)]
    as_of = [date(2024, 1, 31), date(2024, 2, 1)]  # 30 and 31 days after
    duck.register("persons", arrow_table(dictionary, people, {"as_of": as_of}))
    try:
        sql = rule.to_sql("duckdb", evaluation_date="as_of", table="persons")
        got = [row[0] for row in duck.execute(f"SELECT {sql} FROM persons ORDER BY id").fetchall()]
    finally:
        duck.unregister("persons")
    assert got == [False, True]
    assert [
        rule.evaluate(p.values, evaluation_date=d) for p, d in zip(people, as_of, strict=True)
    ] == [
        False,
        True,
    ]
