"""Recommendations over HTTP on SQLite and PostgreSQL: the public "nearest and best" query,
the public page, and a person's recommendations behind roles and jurisdiction."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from carematch.core.db import session_scope
from carematch.core.regions import load_regions
from carematch.providers import service as providers
from carematch.synth import generate_city
from tests.fixtures.people import build_two_districts, token

URL = "/api/v1/services/{}/recommendations"
POINT = {"lat": 23.13, "lon": 113.30}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("city")
    generate_city(residents=300, seed=7, out=out)
    return out


@pytest.fixture
def registry(env, city: Path) -> None:
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        providers.load_providers(session, city)


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_public_query_ranks_providers_of_the_service_with_reasons(client, registry):
    response = client.get(URL.format("chronic_followup"), params={**POINT, "limit": 8})
    assert response.status_code == 200, response.text
    body = response.json()
    choices = body["choices"]
    assert choices, "the generated city offers chronic follow-up"
    assert [c["rank"] for c in choices] == sorted(c["rank"] for c in choices)
    for c in choices:
        assert c["distance_km"] == pytest.approx(
            _haversine(POINT["lat"], POINT["lon"], c["lat"], c["lon"]), abs=1e-3
        )
        assert "·" in c["reason"]
    assert any(c["on_front"] for c in choices)
    # Weighting distance alone orders by distance.
    nearest = client.get(
        URL.format("chronic_followup"), params={**POINT, "limit": 8, "weights": "distance:1"}
    ).json()["choices"]
    distances = [c["distance_km"] for c in nearest]
    assert distances == sorted(distances)


def test_public_query_explains_bad_input(client, registry):
    unknown = client.get(URL.format("no_such_service"), params=POINT)
    assert unknown.status_code == 400
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert (
        client.get(URL.format("chronic_followup"), params={"lat": 91, "lon": 0}).status_code == 422
    )
    weights = client.get(URL.format("chronic_followup"), params={**POINT, "weights": "speed:1"})
    assert weights.status_code == 400 and "speed" in weights.json()["detail"]
    malformed = client.get(URL.format("chronic_followup"), params={**POINT, "weights": "distance"})
    assert malformed.status_code == 400
    need = client.get(URL.format("chronic_followup"), params={**POINT, "need": "magic"})
    assert need.status_code == 400


def test_public_page_lists_providers_and_says_what_is_missing(client, registry, city):
    community = next(
        line.split(",")[0]
        for line in (city / "regions.csv").read_text("utf-8").splitlines()[1:]
        if ",community," in line
    )
    page = client.get(
        "/services/nearby", params={"service": "chronic_followup", "community": community}
    )
    assert page.status_code == 200
    assert page.text.count('class="choice"') >= 1
    assert 'id="needs-map-data"' in page.text
    missing = client.get("/services/nearby", params={"service": "chronic_followup"})
    assert missing.status_code == 200 and 'id="nearby-problem"' in missing.text
    unknown = client.get("/services/nearby", params={"service": "nope", "community": community})
    assert unknown.status_code == 200 and 'id="nearby-problem"' in unknown.text


def test_person_recommendations_follow_roles_and_jurisdiction(client, registry, tmp_path):
    people = build_two_districts(tmp_path)
    url = f"/api/v1/persons/{people.person_d1}/recommendations"
    inside = client.get(
        url, params={"service": "elderly_checkup"}, headers=token(client, "doctor_d1")
    )
    assert inside.status_code == 200, inside.text
    assert inside.json()["services"][0]["service"] == "elderly_checkup"
    outside = client.get(url, headers=token(client, "official_d2"))
    assert outside.status_code == 404
    resident = client.get(url, headers=token(client, "resident1"))
    assert resident.status_code == 403


def test_a_persons_options_cost_what_their_benefits_leave_them(client, registry, tmp_path):
    """The cost objective is the person's expected out-of-pocket (benefit stacking): the local
    resident's public-health policy (P-PHS-PERMIT) makes the prenatal check free, while the
    migrant without a residence permit pays the price (under the basic-insurance deductible)."""
    people = build_two_districts(tmp_path)
    admin = token(client, "admin1")

    def costs(person: str) -> list[float]:
        response = client.get(
            f"/api/v1/persons/{person}/recommendations",
            params={"service": "prenatal_check"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
        return [c["out_of_pocket"] for c in response.json()["services"][0]["choices"]]

    local, migrant = costs(people.person_d2), costs(people.person_d1)
    assert local and all(cost == 0 for cost in local)
    assert migrant and any(cost > 0 for cost in migrant)
