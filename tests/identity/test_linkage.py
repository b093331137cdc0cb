"""The linkage engine on a generated city, on look-alike people, and its contracts."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carematch.cli import app
from carematch.identity.linkage import evidence_of, link_frames, pairwise_scores, prepare
from carematch.synth import generate_city

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")
runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=20_000, seed=2026, out=out)
    return out


@pytest.fixture(scope="module")
def frames(city) -> dict[str, pd.DataFrame]:
    return {s: pd.read_csv(city / f"{s}.csv", dtype=str, keep_default_na=False) for s in SOURCES}


@pytest.fixture(scope="module")
def truth(city) -> dict[str, str]:
    records = pd.read_csv(city / "truth" / "records.csv", dtype=str)
    return dict(
        zip(records["source"] + "\x1f" + records["record_id"], records["person_id"], strict=True)
    )


@pytest.fixture(scope="module")
def result(frames):
    return link_frames(frames)


def _predicted(result) -> dict[str, str]:
    return dict(zip(result.clusters["unique_id"], result.clusters["person_key"], strict=True))


def test_city_of_20000_links_with_f1_098_and_precision_099(result, truth):
    scores = pairwise_scores(_predicted(result), truth)
    assert scores["f1"] >= 0.98, scores
    assert scores["precision"] >= 0.99, scores


def test_beats_exact_id_linking(result, frames, truth):
    data = prepare(frames)
    exact = {
        uid: (id18 if valid else uid)
        for uid, id18, valid in zip(data["unique_id"], data["id18"], data["id_valid"], strict=True)
    }
    baseline = pairwise_scores(exact, truth)
    ours = pairwise_scores(_predicted(result), truth)
    assert ours["recall"] > baseline["recall"] + 0.05
    assert ours["f1"] > baseline["f1"]


def test_look_alike_people_stay_apart(result, frames, truth):
    """Household members share a phone and address; many share a common name and birth date."""
    data = prepare(frames).set_index("unique_id")
    groups: dict[tuple, set[str]] = defaultdict(set)
    for uid, row in data.iterrows():
        for key in (
            ("phone", row["phone"]),
            ("address", row["address_key"]),
            ("name_dob", row["name_py"], row["dob"]),
        ):
            if all(v is not None and v == v for v in key[1:]):
                groups[key].add(uid)
    look_alikes: set[str] = set()
    cross_person_pairs = 0
    for members in groups.values():
        people = {truth[u] for u in members}
        if len(people) > 1:
            look_alikes |= members
            cross_person_pairs += len(members) * (len(members) - 1) // 2
    assert cross_person_pairs > 1_000, "the generator must produce look-alike people"

    predicted = _predicted(result)
    subset_pred = {u: predicted[u] for u in look_alikes}
    subset_true = {u: truth[u] for u in look_alikes}
    scores = pairwise_scores(subset_pred, subset_true)
    assert scores["precision"] >= 0.99, scores
    assert scores["recall"] >= 0.98, scores


def test_every_record_once_and_pairs_carry_evidence(result, frames):
    assert len(result.clusters) == sum(len(f) for f in frames.values())
    assert result.clusters["unique_id"].is_unique
    strongest = int(result.pairs["match_probability"].to_numpy().argmax())
    evidence = evidence_of(result.pairs, strongest)
    assert set(evidence) >= {"name", "id_number", "birth_date", "phone", "address"}
    assert evidence["id_number"]["level"] == "Exact match on id18"
    assert evidence["id_number"]["weight"] > 5


def test_record_without_identifying_fields_is_linked_to_nothing(tmp_path):
    rows = pd.DataFrame(
        {
            "record_id": ["A1", "A2", "A3", "A4"],
            "name": ["张伟", "张伟", "", "李娜"],
            "birth_date": ["1980-01-01", "1980-01-01", "1980-01-01", "1975-05-05"],
            "sex": ["M", "M", "M", "F"],
            "phone": ["13800138000", "13800138000", "", "13900139000"],
        }
    )
    result = link_frames({"a": rows, "b": rows.assign(record_id=rows["record_id"] + "b")})
    clusters = result.clusters.set_index("unique_id")
    flagged = clusters[clusters["unlinkable"]]
    assert sorted(flagged.index) == ["a\x1fA3", "b\x1fA3b"]
    assert flagged["person_key"].nunique() == 2
    assert clusters.loc["a\x1fA1", "person_key"] == clusters.loc["b\x1fA1b", "person_key"]


def test_cli_contract_and_rerun_gives_the_same_ids(city, tmp_path):
    args = [
        "link",
        "--input",
        f"police={city / 'police.csv'}",
        "--input",
        f"survey={city / 'survey.csv'}",
    ]
    first = runner.invoke(
        app, [*args, "--out", str(tmp_path / "one.csv"), "--save-model", str(tmp_path / "m.json")]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "two.csv")])
    assert second.exit_code == 0, second.output

    one = pd.read_csv(tmp_path / "one.csv", dtype=str)
    assert list(one.columns) == ["source", "record_id", "person_id"]
    police = pd.read_csv(city / "police.csv", dtype=str)
    survey = pd.read_csv(city / "survey.csv", dtype=str)
    assert len(one) == len(police) + len(survey)
    assert not one.duplicated(["source", "record_id"]).any()
    assert one.equals(pd.read_csv(tmp_path / "two.csv", dtype=str))

    reused = runner.invoke(
        app, [*args, "--out", str(tmp_path / "three.csv"), "--model", str(tmp_path / "m.json")]
    )
    assert reused.exit_code == 0, reused.output
    assert "em_sessions" not in json.loads(reused.stdout.strip().splitlines()[-1])
    assert one.equals(pd.read_csv(tmp_path / "three.csv", dtype=str))


def test_cli_refuses_bad_inputs_clearly(tmp_path):
    (tmp_path / "x.csv").write_text("name\n张伟\n", encoding="utf-8")
    no_id = runner.invoke(
        app, ["link", "--input", f"x={tmp_path / 'x.csv'}", "--out", str(tmp_path / "o.csv")]
    )
    assert no_id.exit_code == 2 and "record_id" in no_id.output
    bad = runner.invoke(app, ["link", "--input", "nonsense", "--out", str(tmp_path / "o.csv")])
    assert bad.exit_code == 2 and "NAME=PATH" in bad.output
    engine = runner.invoke(
        app, ["link", "--input", f"x={tmp_path / 'x.csv'}", "--out", "o.csv", "--engine", "oracle"]
    )
    assert engine.exit_code == 2 and "unknown engine" in engine.output
