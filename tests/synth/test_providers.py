"""The provider registry, its services and the vans' weekly routes."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
import yaml

from tests.synth.support import City

DAYS = r"(Mo|Tu|We|Th|Fr|Sa|Su)(-(Mo|Tu|We|Th|Fr|Sa|Su))?"
SPANS = r"\d{2}:\d{2}-\d{2}:\d{2}(,\d{2}:\d{2}-\d{2}:\d{2})*"
RULE = f"{DAYS} {SPANS}"
# OpenStreetMap opening_hours syntax, the subset the registry uses.
HOURS = re.compile(f"^(24/7|{RULE}(; {RULE})*)$")


@pytest.fixture(scope="module")
def providers(city: City) -> list[dict[str, str]]:
    return city.rows("providers")


def test_kinds_of_providers(city: City, providers: list[dict[str, str]]) -> None:
    kinds = Counter(p["kind"] for p in providers)
    regions = city.rows("regions")
    towns = [r for r in regions if r["level"] == "street" and r["name"].endswith("镇")]
    streets = [r for r in regions if r["level"] == "street" and not r["name"].endswith("镇")]
    villages = [r for r in regions if r.get("kind") == "rural"]
    assert 2 <= kinds["tertiary_hospital"] <= 3
    assert kinds["community_health_centre"] == len(streets)
    assert kinds["township_hospital"] == len(towns)
    assert kinds["village_clinic"] == len(villages)
    assert 3 <= kinds["mobile_van"] <= 4
    assert kinds["ngo"] >= 2 and kinds["health_station"] >= 5 and kinds["private_clinic"] >= 1
    assert {p["ownership"] for p in providers} == {"government", "social_organisation", "market"}
    clinics = {p["community_code"] for p in providers if p["kind"] == "village_clinic"}
    assert clinics == {v["code"] for v in villages}


def test_opening_hours_languages_and_capabilities(providers: list[dict[str, str]]) -> None:
    for p in providers:
        assert HOURS.match(p["opening_hours"]), p["opening_hours"]
        assert "zh" in p["languages"].split(";")
    languages = {lang for p in providers for lang in p["languages"].split(";")}
    assert {"en", "ug", "bo", "yue"} <= languages
    assert sum(p["evening_hours"] == "true" for p in providers) >= 5
    assert sum(p["weekend_hours"] == "true" for p in providers) >= 5
    assert any(p["evening_hours"] == "false" for p in providers)
    tags = {t for p in providers for t in p["capabilities"].split(";") if t}
    assert {
        "elderly_chronic_care",
        "maternal_child",
        "mental_health",
        "occupational_health",
        "tb",
        "vaccination",
    } <= tags


def test_services_come_from_the_catalogue_with_capacity_and_price(
    city: City, providers: list[dict[str, str]]
) -> None:
    catalogue = {
        s["code"] for s in yaml.safe_load((city.root / "services.yaml").read_text("utf-8"))
    }
    offered = city.rows("provider_services")
    ids = {p["provider_id"] for p in providers}
    by_provider = defaultdict(set)
    for row in offered:
        assert row["provider_id"] in ids
        assert row["service_code"] in catalogue
        assert int(row["daily_capacity"]) > 0
        assert float(row["price"]) >= 0 and 0 <= float(row["insured_share"]) <= 1
        by_provider[row["provider_id"]].add(row["service_code"])
    assert set(by_provider) == ids
    assert len({(r["provider_id"], r["service_code"]) for r in offered}) == len(offered)
    # Children can be vaccinated somewhere in every district.
    for district in {p["district_code"] for p in providers}:
        assert any(
            "vaccination_child" in by_provider[p["provider_id"]]
            for p in providers
            if p["district_code"] == district
        )
    free = [r for r in offered if r["service_code"] == "vaccination_child"]
    assert all(float(r["price"]) == 0 for r in free)


def test_vans_have_weekly_routes(city: City, providers: list[dict[str, str]]) -> None:
    vans = {p["provider_id"] for p in providers if p["kind"] == "mobile_van"}
    stops = city.rows("van_stops")
    communities = {r["code"]: r for r in city.rows("regions") if r["level"] == "community"}
    assert {s["provider_id"] for s in stops} == vans
    for s in stops:
        assert 1 <= int(s["weekday"]) <= 7
        assert s["start_time"] < s["end_time"]
        assert s["community_code"] in communities
        assert abs(float(s["lat"]) - float(communities[s["community_code"]]["lat"])) < 0.02
        assert s["site_name"]
    sites = " ".join(s["site_name"] for s in stops)
    assert "市场" in sites and ("园区" in sites or "工地" in sites or "厂区" in sites)
    assert any(s["start_time"] >= "18:00" for s in stops)


def test_parents_and_locations(city: City, providers: list[dict[str, str]]) -> None:
    ids = {p["provider_id"]: p for p in providers}
    communities = {r["code"] for r in city.rows("regions") if r["level"] == "community"}
    for p in providers:
        assert p["community_code"] in communities
        assert (
            p["street_code"] == p["community_code"][:9]
            and p["district_code"] == p["community_code"][:6]
        )
        if p["kind"] in ("village_clinic", "health_station", "mobile_van"):
            assert p["parent_id"] in ids
        if p["parent_id"]:
            assert ids[p["parent_id"]]["kind"] in (
                "tertiary_hospital",
                "community_health_centre",
                "township_hospital",
            )
