"""Linkage on Spark (local mode) gives the same persons as on DuckDB (issue 3).

One small city is linked on DuckDB, which trains the model, and then on Spark with that same
model, so that what is compared is the engines, not two trainings. Needs pyspark (the
``[spark]`` extra) and Java 17+; without them the Spark tests skip, or fail when
CAREMATCH_REQUIRE_ALL=1 (CI).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from carematch.cli import app
from carematch.identity.linkage import LinkageResult, evidence_of, link_frames
from carematch.identity.spark import model_for_dialect
from carematch.synth import generate_city
from tests.fixtures.env import missing

SOURCES = ("police", "ehr", "survey")
runner = CliRunner()


def _java() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One local Spark session for the module, stopped at the end."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing("Spark (pyspark + Java)")
    if _java() is None:
        missing("Spark (pyspark + Java)")
    from carematch.identity.spark import local_session, stop_session

    session = local_session()
    try:
        yield session
    finally:
        stop_session()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=400, seed=5, out=out)
    return out


@pytest.fixture(scope="module")
def frames(city: Path) -> dict[str, pd.DataFrame]:
    return {s: pd.read_csv(city / f"{s}.csv", dtype=str, keep_default_na=False) for s in SOURCES}


@pytest.fixture(scope="module")
def on_duckdb(frames: dict[str, pd.DataFrame]) -> LinkageResult:
    return link_frames(frames)


@pytest.fixture(scope="module")
def on_spark(
    spark: Any, frames: dict[str, pd.DataFrame], on_duckdb: LinkageResult
) -> LinkageResult:
    # The DuckDB model's SQL rewritten for Spark SQL (a no-op for link_frames once it does
    # this itself); a child session keeps this run's temporary views apart from the CLI's.
    model = model_for_dialect(on_duckdb.model, "spark")
    return link_frames(frames, engine="spark", model=model, spark=spark.newSession())


def _partition(result: LinkageResult) -> set[frozenset[str]]:
    groups = result.clusters.groupby("person_key")["unique_id"].agg(frozenset)
    return set(groups)


def test_same_clusters_on_spark_and_duckdb(
    on_duckdb: LinkageResult, on_spark: LinkageResult, frames: dict[str, pd.DataFrame]
) -> None:
    records = sum(len(f) for f in frames.values())
    assert len(on_spark.clusters) == records
    assert on_spark.clusters["unique_id"].is_unique
    duck = _partition(on_duckdb)
    assert len(duck) < records * 0.6, "the sources must link: most people are in several"
    assert _partition(on_spark) == duck
    # Person keys come from each cluster's smallest record id: identical too.
    keys = ["unique_id", "person_key", "unlinkable"]
    left = on_duckdb.clusters[keys].sort_values("unique_id").reset_index(drop=True)
    right = on_spark.clusters[keys].sort_values("unique_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(left, right)


def test_same_pair_probabilities_and_evidence(
    on_duckdb: LinkageResult, on_spark: LinkageResult
) -> None:
    ids = ["unique_id_l", "unique_id_r"]
    duck = on_duckdb.pairs.sort_values(ids, ignore_index=True)
    spark = on_spark.pairs.sort_values(ids, ignore_index=True)
    duck.attrs, spark.attrs = on_duckdb.pairs.attrs, on_spark.pairs.attrs
    assert len(duck) > 100
    pd.testing.assert_frame_equal(duck[ids], spark[ids])
    difference = (duck["match_probability"] - spark["match_probability"]).abs()
    assert difference.max() <= 1e-9
    # Every comparison of every pair reached the same level, with the same weight.
    for i in range(len(duck)):
        a, b = evidence_of(duck, i), evidence_of(spark, i)
        assert a.keys() == b.keys() and a, (a, b)
        for comparison in a:
            assert a[comparison]["level"] == b[comparison]["level"], (i, comparison)
            assert abs(a[comparison]["weight"] - b[comparison]["weight"]) <= 0.0011
    assert on_spark.model["sql_dialect"] == "spark"


def test_cli_links_on_spark(spark: Any, city: Path, tmp_path: Path) -> None:
    """`carematch link --engine spark` trains on Spark and writes every record once."""
    # The police and clinic records of 100 people: training on Spark costs mostly per query
    # (one per EM iteration), and a small input trims the rest.
    truth = pd.read_csv(city / "truth" / "records.csv", dtype=str)
    people = set(truth.loc[truth["source"] == "police", "person_id"].iloc[:100])
    inputs: dict[str, Path] = {}
    for source in ("police", "ehr"):
        inputs[source] = tmp_path / f"{source}.csv"
        frame = pd.read_csv(city / f"{source}.csv", dtype=str, keep_default_na=False)
        mine = truth[(truth["source"] == source) & truth["person_id"].isin(people)]
        frame = frame[frame["record_id"].isin(set(mine["record_id"]))]
        columns = ["record_id", "name", "id_number", "sex", "birth_date", "phone", "address"]
        frame[columns].to_csv(inputs[source], index=False)
    out = tmp_path / "clusters.csv"
    args = ["link", "--engine", "spark", "--out", str(out)]
    for source, path in inputs.items():
        args += ["--input", f"{source}={path}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(clusters.columns) == ["source", "record_id", "person_id"]
    expected = set()
    for source, path in inputs.items():
        ids = pd.read_csv(path, dtype=str, keep_default_na=False)["record_id"]
        expected |= {(source, r) for r in ids}
    seen = list(zip(clusters["source"], clusters["record_id"], strict=True))
    assert len(seen) == len(set(seen)) == len(expected)
    assert set(seen) == expected
    assert (clusters["person_id"] != "").all()
    assert clusters["person_id"].nunique() < len(clusters), "police and ehr share people"


def test_model_moves_between_dialects(on_duckdb: LinkageResult) -> None:
    """The SQL of a DuckDB model is rewritten for Spark and back; parameters are kept."""
    duck = on_duckdb.model
    spark_model = model_for_dialect(duck, "spark")
    conditions = [
        level["sql_condition"]
        for comparison in spark_model["comparisons"]
        for level in comparison["comparison_levels"]
    ]
    assert not any('"' in c for c in conditions), "Spark SQL reads double quotes as strings"
    assert any("JARO_WINKLER(" in c for c in conditions)
    assert not any("JARO_WINKLER_SIMILARITY" in c.upper() for c in conditions)
    assert all(
        rule["sql_dialect"] == "spark" and '"' not in rule["blocking_rule"]
        for rule in spark_model["blocking_rules_to_generate_predictions"]
    )
    back = model_for_dialect(spark_model, "duckdb")
    for a, b in zip(duck["comparisons"], back["comparisons"], strict=True):
        for x, y in zip(a["comparison_levels"], b["comparison_levels"], strict=True):
            assert x["sql_condition"].lower() == y["sql_condition"].lower().replace(
                "substring(", "substr("
            )
            assert x.get("m_probability") == y.get("m_probability")
            assert x.get("u_probability") == y.get("u_probability")
    assert model_for_dialect(duck, "duckdb") is duck
