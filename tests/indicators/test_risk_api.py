"""The risk index and budget proposal from a loaded city, through the API and the CLI."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.profiling.service import features_for
from carematch.security.service import create_user
from carematch.synth import generate_city
from tests.fixtures.people import PASSWORD, token

runner = CliRunner()


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("risk") / "city"
    generate_city(residents=400, seed=2024, out=path)
    return path


@pytest.fixture
def loaded(env, city: Path) -> date:
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in ("police", "ehr", "survey"):
            ingest_file(session, source, city / f"{source}.csv")
        build_persons_exact(session)
        create_user(session, "city_official", "official", PASSWORD, "449900")
        create_user(session, "d1_official", "official", PASSWORD, "449901")
    return date.fromisoformat(json.loads((city / "manifest.json").read_text())["as_of"])


def _by_hand(as_of: date) -> dict[str, dict[str, float]]:
    """Prevalence and coverage per community straight from the features view."""
    with session_scope() as session:
        rows = features_for(session, as_of=as_of).to_pylist()
    tally: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if r["community"] is None:
            continue
        t = tally[r["community"]]
        t["population"] += 1
        t["signed"] += bool(r["signed_family_doctor"])
        if r["age"] is not None and r["age"] >= 18:
            t["adults"] += 1
            t["patients"] += bool({"hypertension", "diabetes"} & set(r["conditions"] or []))
    return tally


def test_risk_index_matches_a_hand_count_and_the_budget_adds_up(client, loaded):
    headers = token(client, "city_official")
    response = client.get(
        "/api/v1/indicators/risk-index", params={"as_of": loaded.isoformat()}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    items = body["items"]
    assert len(items) > 3 and sum(body["weights"].values()) == pytest.approx(1)
    # Components equal an independent count from the features view
    hand = _by_hand(loaded)
    for item in items:
        t = hand[item["community"]]
        assert item["population"] == t["population"]
        assert item["raw"]["uncovered"] == pytest.approx(1 - t["signed"] / t["population"])
        if t["adults"]:
            assert item["raw"]["chronic_prevalence"] == pytest.approx(t["patients"] / t["adults"])
    indices = [i["index"] for i in items]
    assert indices == sorted(indices, reverse=True)
    assert max(indices) <= 100 and min(indices) >= 0 and items[0]["name"]
    # The budget proposal splits exactly the total, riskier per resident gets more per resident
    proposal = client.post(
        "/api/v1/indicators/budget",
        json={"total": 1_000_003, "risk_share": 0.7, "as_of": loaded.isoformat()},
        headers=headers,
    )
    assert proposal.status_code == 200, proposal.text
    lines = proposal.json()["items"]
    assert sum(line["amount"] for line in lines) == 1_000_003
    per_head = sorted((line["risk_index"], line["amount"] / line["population"]) for line in lines)
    assert per_head[-1][1] > per_head[0][1]


def test_a_district_official_sees_their_communities_and_nothing_else(client, loaded):
    headers = token(client, "d1_official")
    items = client.get(
        "/api/v1/indicators/risk-index", params={"as_of": loaded.isoformat()}, headers=headers
    ).json()["items"]
    assert items and all(i["community"].startswith("449901") for i in items)
    outside = client.get(
        "/api/v1/indicators/risk-index", params={"region": "449902"}, headers=headers
    )
    assert outside.status_code == 403
    bad = client.post(
        "/api/v1/indicators/budget",
        json={"total": 1000, "results": {"449902001001": 3}, "as_of": loaded.isoformat()},
        headers=headers,
    )
    assert bad.status_code == 400 and "not in the area" in bad.json()["detail"]
    assert (
        client.post("/api/v1/indicators/budget", json={"total": -5}, headers=headers).status_code
        == 422
    )


def test_the_cli_prints_the_index_and_the_budget(loaded):
    as_of = loaded.isoformat()
    index = runner.invoke(app, ["evaluate", "risk-index", "--as-of", as_of])
    assert index.exit_code == 0, index.output
    rows = [json.loads(line) for line in index.stdout.splitlines()]
    assert rows and {"community", "index", "population"} <= set(rows[0])
    budget = runner.invoke(app, ["evaluate", "budget", "--total", "500000", "--as-of", as_of])
    assert budget.exit_code == 0, budget.output
    lines = [json.loads(line) for line in budget.stdout.splitlines()]
    assert sum(line["amount"] for line in lines) == 500000
    refused = runner.invoke(app, ["evaluate", "budget", "--total", "100", "--risk-share", "2"])
    assert refused.exit_code == 2


def test_the_results_part_follows_the_stored_control_rate_gain(client, loaded):
    # Given two months of stored control rates: one community gained 10 points, one lost 5
    from carematch.indicators.models import IndicatorValue

    headers = token(client, "d1_official")
    items = client.get(
        "/api/v1/indicators/risk-index", params={"as_of": loaded.isoformat()}, headers=headers
    ).json()["items"]
    gained, lost = sorted(i["community"] for i in items)[:2]
    with session_scope() as session:
        for period, values in (("2026-05", (0.50, 0.60)), ("2026-06", (0.60, 0.55))):
            for code, value in zip((gained, lost), values, strict=True):
                session.add(
                    IndicatorValue(
                        id=f"{code}{period}",
                        indicator_id="chronic_control_rate",
                        period=period,
                        region_code=code,
                        disaggregation="total",
                        group_key="",
                        value=value,
                        status="green",
                    )
                )
    # When a proposal gives no results scores
    body = client.post(
        "/api/v1/indicators/budget",
        json={"total": 100_000, "risk_share": 0.5, "as_of": loaded.isoformat()},
        headers=headers,
    ).json()
    # Then the whole results part goes to the community that improved
    assert body["results_source"] == {
        "kind": "stored",
        "indicator": "chronic_control_rate",
        "periods": ["2026-05", "2026-06"],
    }
    by = {line["community"]: line for line in body["items"]}
    assert by[gained]["results"] == pytest.approx(10.0)
    assert by[lost]["results"] == pytest.approx(-5.0)
    assert by[gained]["results_part"] == pytest.approx(50_000)
    assert sum(line["amount"] for line in body["items"]) == 100_000
    # And an explicit empty mapping means no results scores at all
    none = client.post(
        "/api/v1/indicators/budget",
        json={"total": 100_000, "risk_share": 0.5, "results": {}, "as_of": loaded.isoformat()},
        headers=headers,
    ).json()
    assert none["results_source"]["kind"] == "none"
    split = {line["community"]: line["amount"] for line in none["items"]}
    assert by[gained]["amount"] > split[gained]
