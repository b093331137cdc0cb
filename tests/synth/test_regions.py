"""The map of 江城市: region codes and hierarchy, district polygons, community points."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from tests.synth.support import City

LEVELS = ("province", "city", "district", "street", "community")


def point_in_ring(lon: float, lat: float, ring: list[list[float]]) -> bool:
    inside = False
    for (x1, y1), (x2, y2) in itertools.pairwise(ring):
        if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@pytest.fixture(scope="module")
def regions(city: City) -> list[dict[str, str]]:
    return city.rows("regions")


@pytest.fixture(scope="module")
def districts(city: City) -> dict:
    return json.loads((city.root / "districts.geojson").read_text(encoding="utf-8"))


def test_hierarchy_counts_and_codes(regions: list[dict[str, str]]) -> None:
    count = {level: sum(r["level"] == level for r in regions) for level in LEVELS}
    assert count == {"province": 1, "city": 1, "district": 5, "street": 20, "community": 60}
    by_code = {r["code"]: r for r in regions}
    assert len(by_code) == len(regions)
    assert by_code["440000"]["name"] == "广东省"
    assert by_code["449900"]["name"] == "江城市"
    assert sorted(r["code"] for r in regions if r["level"] == "district") == [
        f"44990{i}" for i in range(1, 6)
    ]
    for r in regions:
        if r["level"] == "street":
            assert len(r["code"]) == 9 and r["code"][:6] == r["parent_code"]
        if r["level"] == "community":
            assert len(r["code"]) == 12 and r["code"][:9] == r["parent_code"]
            assert r["kind"] in {"urban", "urban_village", "industrial_park", "rural"}
        else:
            assert r["kind"] == ""
        if r["level"] != "province":
            assert by_code[r["parent_code"]]["level"] == LEVELS[LEVELS.index(r["level"]) - 1]
        assert r["name"] and r["name_en"]


def test_every_community_kind_occurs(regions: list[dict[str, str]]) -> None:
    kinds = {r["kind"] for r in regions if r["level"] == "community"}
    assert kinds == {"urban", "urban_village", "industrial_park", "rural"}


def test_coordinates_spread_about_thirty_kilometres(regions: list[dict[str, str]]) -> None:
    comms = [r for r in regions if r["level"] == "community"]
    lats = [float(r["lat"]) for r in comms]
    lons = [float(r["lon"]) for r in comms]
    assert all(22.8 < v < 23.45 for v in lats) and all(113.05 < v < 113.55 for v in lons)
    north_south = (max(lats) - min(lats)) * 111
    east_west = (max(lons) - min(lons)) * 111 * math.cos(math.radians(23.1))
    assert 15 < north_south < 50 and 15 < east_west < 50


def test_geojson_has_one_polygon_per_district(
    districts: dict, regions: list[dict[str, str]]
) -> None:
    assert districts["type"] == "FeatureCollection"
    features = districts["features"]
    names = {r["code"]: (r["name"], r["name_en"]) for r in regions if r["level"] == "district"}
    assert {f["properties"]["code"] for f in features} == set(names)
    for f in features:
        props = f["properties"]
        assert (props["name"], props["name_en"]) == names[props["code"]]
        assert f["geometry"]["type"] == "Polygon"
        ring = f["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1] and len(ring) >= 4
        # RFC 7946: exterior rings are counter-clockwise (positive shoelace area).
        area = sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring))
        assert area > 0


def test_district_polygons_do_not_overlap_and_leave_no_gaps(districts: dict) -> None:
    rings = [f["geometry"]["coordinates"][0] for f in districts["features"]]
    xs = [x for ring in rings for x, _ in ring]
    ys = [y for ring in rings for _, y in ring]
    covered = 0
    steps = 60
    for i in range(steps):
        for j in range(steps):
            lon = min(xs) + (max(xs) - min(xs)) * (i + 0.5) / steps
            lat = min(ys) + (max(ys) - min(ys)) * (j + 0.5) / steps
            hits = sum(point_in_ring(lon, lat, ring) for ring in rings)
            assert hits <= 1, (lon, lat)
            covered += hits
    # The districts tile the city outline, which fills most of its bounding box.
    assert covered > 0.7 * steps * steps


def test_communities_lie_inside_their_district(
    districts: dict, regions: list[dict[str, str]]
) -> None:
    rings = {
        f["properties"]["code"]: f["geometry"]["coordinates"][0] for f in districts["features"]
    }
    for r in regions:
        if r["level"] in ("street", "community"):
            assert point_in_ring(float(r["lon"]), float(r["lat"]), rings[r["code"][:6]]), r["code"]
            others = [c for c in rings if c != r["code"][:6]]
            assert not any(
                point_in_ring(float(r["lon"]), float(r["lat"]), rings[c]) for c in others
            )


def test_residents_live_in_known_communities(city: City, regions: list[dict[str, str]]) -> None:
    communities = {r["code"] for r in regions if r["level"] == "community"}
    used = {p["community_code"] for p in city.persons.values()}
    assert used <= communities
    assert len(used) == len(communities)
