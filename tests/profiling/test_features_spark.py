"""The features view on Spark (SQL transpiled from DuckDB's) equals DuckDB's, row for row."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from carematch.profiling import extracts
from carematch.profiling.features import (
    NEED_CODES,
    compute_features,
    compute_features_spark,
    source_table,
)
from carematch.synth import generate_city
from carematch.vaccination.forecast import count_overdue_batch
from carematch.vaccination.schedule import default_schedule
from tests.fixtures.env import missing

AS_OF = date(2026, 6, 30)


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing("Spark (pyspark + Java)")
    home = os.environ.get("JAVA_HOME")
    if not (home and (Path(home) / "bin" / "java").exists()) and shutil.which("java") is None:
        missing("Spark (pyspark + Java)")
    from carematch.identity.spark import local_session, stop_session

    session = local_session()
    try:
        yield session
    finally:
        stop_session()


def _count(as_of, births, doses):
    return count_overdue_batch(default_schedule(), as_of, births, doses)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _recorded(person_ids: list[str]) -> dict[str, Any]:
    """Assessments, visits and reported needs for some persons (the recorded sources), with
    ties in time, visits that did not note living alone and needs outside the 12-month window."""
    noon = datetime(2026, 6, 1, 12, 0)
    assessments, visits, needs = [], [], []
    for i, pid in enumerate(person_ids):
        for j in range(i % 3):
            at = noon - timedelta(days=(i * 7 + j * 40) % 90)
            assessments.append(
                {
                    "person_id": pid,
                    "record_id": f"A{i}-{j}",
                    "assessed_at": at,
                    "disability_level": (i + j) % 5,
                }
            )
        alone = None if i % 4 == 0 else i % 2 == 0
        visits.append(
            {"person_id": pid, "record_id": f"V{i}", "visited_at": noon, "lives_alone": alone}
        )
        for j, channel in enumerate(("questionnaire", "visit", "questionnaire")):
            chosen = [c for k, c in enumerate(NEED_CODES) if (i + j + k) % 3 == 0]
            at = noon - timedelta(days=(i * 50 + j * 200) % 500)
            needs.append(
                {
                    "person_id": pid,
                    "record_id": f"N{i}-{j}",
                    "reported_at": at,
                    "channel": channel,
                    "needs": chosen,
                }
            )
    return {
        "assessment": source_table("assessment", assessments),
        "home_visit": source_table("home_visit", visits),
        "reported_need": source_table("reported_need", needs),
    }


def test_spark_computes_the_same_features_as_duckdb(spark, tmp_path):
    city = tmp_path / "city"
    generate_city(residents=400, seed=13, out=city)
    mapping = extracts.read_mapping(city / "truth" / "records.csv")
    sources = extracts.sources_from_city(city, mapping)
    persons = extracts.persons_from_sources(city, mapping)
    sources.update(_recorded(persons.column("person_id").to_pylist()[:60]))

    duck = compute_features(persons, sources, AS_OF, _count).to_pylist()
    on_spark = compute_features_spark(persons, sources, AS_OF, _count, spark).to_pylist()

    assert len(on_spark) == len(duck) == persons.num_rows
    assert any(row["conditions"] for row in duck) and any(row["oop_12m"] for row in duck)
    assert any(row["need_home_help"] for row in duck) and any(
        row["disability_level"] == 4 for row in duck
    )
    for a, b in zip(duck, on_spark, strict=True):
        left = {k: _plain(v) for k, v in a.items()}
        right = {k: _plain(v) for k, v in b.items()}
        assert left.keys() == right.keys()
        for key in left:
            if isinstance(left[key], float) or isinstance(right[key], float):
                assert right[key] == pytest.approx(left[key], abs=1e-9), (a["person_id"], key)
            else:
                assert right[key] == left[key], (a["person_id"], key)
