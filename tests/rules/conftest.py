"""Fixtures of the rule-language tests: CareMatch's feature dictionary and engine connections."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

import carematch.profiling
from carematch.rules import FeatureDictionary
from tests.fixtures.env import POSTGRES_URL, missing

DICTIONARY_PATH = Path(carematch.profiling.__file__).parent / "feature_dictionary.yaml"


@pytest.fixture(scope="session")
def dictionary() -> FeatureDictionary:
    """The feature dictionary the profiling domain ships (rules are written against it)."""
    return FeatureDictionary.from_yaml(DICTIONARY_PATH)


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB; a hypothesis test reuses it for all its examples."""
    conn = duckdb.connect()
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    """A psycopg connection to the test server; tests put their rows in TEMP tables."""
    if not POSTGRES_URL:
        missing("PostgreSQL (CAREMATCH_TEST_POSTGRES_URL)")
    assert POSTGRES_URL
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    conn = psycopg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    )
    try:
        yield conn
    finally:
        conn.close()
