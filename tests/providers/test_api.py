"""The providers API over HTTP on SQLite and PostgreSQL: public reads, validated search, import."""

from __future__ import annotations

from pathlib import Path

import pytest

from carematch.api.app import create_app
from carematch.api.routes import iter_endpoints
from carematch.core.db import session_scope
from carematch.providers import service
from carematch.providers.geo import EARTH_RADIUS_KM, haversine_km
from carematch.providers.hours import parse_hours
from carematch.security.authz import declared_authz
from tests.providers.conftest import PROVIDER_HEADER, bearer, csv_rows, provider_row, write_csv

API = "/api/v1"
WEDNESDAY_19 = "2026-07-01T19:00:00"  # a Wednesday, city time


def is_problem(response, status: int) -> bool:
    return response.status_code == status and response.headers["content-type"].startswith(
        "application/problem+json"
    )


@pytest.fixture
def loaded(env, regions_loaded, city: Path) -> Path:
    with session_scope() as session:
        service.load_providers(session, city)
    return city


def test_reads_are_public_and_import_is_for_officials():
    declared = {
        (e.path, m): declared_authz(e.route.dependant)
        for e in iter_endpoints(create_app())
        if e.path.startswith(f"{API}/providers")
        for m in e.methods
    }
    assert declared[(f"{API}/providers", "GET")] == ("public",)
    assert declared[(f"{API}/providers/nearest", "GET")] == ("public",)
    assert declared[(f"{API}/providers/{{provider_id}}", "GET")] == ("public",)
    assert declared[(f"{API}/providers/import", "POST")] == ("admin", "official")


def test_list_pages_through_every_active_provider(client, loaded):
    ids = sorted(r["provider_id"] for r in csv_rows(loaded / "providers.csv"))
    seen, offset = [], 0
    while True:
        page = client.get(f"{API}/providers", params={"limit": 20, "offset": offset}).json()
        assert page["total"] == len(ids)
        if not page["items"]:
            break
        seen += [item["id"] for item in page["items"]]
        offset += 20
    assert seen == ids


def test_list_filters(client, loaded):
    rows = csv_rows(loaded / "providers.csv")
    offered = csv_rows(loaded / "provider_services.csv")

    def ids(**params) -> set[str]:
        body = client.get(f"{API}/providers", params={"limit": 500, **params}).json()
        assert body["total"] == len(body["items"])
        return {item["id"] for item in body["items"]}

    assert ids(service="tb_screening") == {
        r["provider_id"] for r in offered if r["service_code"] == "tb_screening"
    }
    assert ids(kind="mobile_van") == {r["provider_id"] for r in rows if r["kind"] == "mobile_van"}
    assert ids(region="449902") == {
        r["provider_id"] for r in rows if r["district_code"] == "449902"
    }
    assert ids(language="ug") == {
        r["provider_id"] for r in rows if "ug" in r["languages"].split(";")
    }
    assert ids(capability="tb") == {
        r["provider_id"] for r in rows if "tb" in r["capabilities"].split(";")
    }
    assert ids(region="449902", kind="village_clinic") == {
        r["provider_id"]
        for r in rows
        if r["district_code"] == "449902" and r["kind"] == "village_clinic"
    }


BAD_LIST_FILTERS = [
    ({"service": "x_ray_vision"}, 400),
    ({"kind": "spaceship"}, 422),
    ({"region": "44"}, 422),
    ({"capability": "flying"}, 422),
    ({"language": "Chinese"}, 422),
    ({"limit": 0}, 422),
    ({"offset": -1}, 422),
]


def test_bad_list_filters_are_problems(client, env):
    # One installation for every case: each case is a request, not a new database.
    for params, status in BAD_LIST_FILTERS:
        response = client.get(f"{API}/providers", params=params)
        assert is_problem(response, status), (params, response.text)


def test_one_provider_with_services_hours_and_van_stops(client, loaded):
    rows = csv_rows(loaded / "providers.csv")
    centre = next(r for r in rows if r["kind"] == "community_health_centre")
    body = client.get(f"{API}/providers/{centre['provider_id']}").json()
    offered = [
        r for r in csv_rows(loaded / "provider_services.csv") if r["provider_id"] == body["id"]
    ]
    assert {s["code"] for s in body["services"]} == {r["service_code"] for r in offered}
    assert [(h["weekday"], h["opens"], h["closes"]) for h in body["hours"]] == parse_hours(
        centre["opening_hours"]
    ).day_ranges()
    assert body["van_stops"] == []
    van = next(r for r in rows if r["kind"] == "mobile_van")
    body = client.get(f"{API}/providers/{van['provider_id']}").json()
    stops = csv_rows(loaded / "van_stops.csv")
    expected = sorted(
        (int(s["weekday"]), s["site_name"]) for s in stops if s["provider_id"] == body["id"]
    )
    assert [(s["weekday"], s["site_name"]) for s in body["van_stops"]] == expected
    assert body["hours"] == []
    assert is_problem(client.get(f"{API}/providers/PRV9999"), 404)


def test_nearest_is_sorted_by_true_distance_and_marks_opening(client, loaded):
    lat, lon = 23.03, 113.38
    query = {"service": "vaccination_child", "lat": lat, "lon": lon, "at": WEDNESDAY_19}
    body = client.get(f"{API}/providers/nearest", params=query | {"limit": 8}).json()
    items = body["items"]
    assert len(items) == 8
    distances = [i["distance_km"] for i in items]
    assert distances == sorted(distances)
    for item in items:
        expected = float(haversine_km(lat, lon, [item["lat"]], [item["lon"]])[0])
        assert item["distance_km"] == pytest.approx(expected, abs=1e-3)
        # Every generated provider opens some time, so a closed one always has a next opening.
        assert (item["next_open"] is None) == item["open_now"]
        assert (item["closes_at"] is not None) == item["open_now"]
    offering = {
        r["provider_id"]
        for r in csv_rows(loaded / "provider_services.csv")
        if r["service_code"] == "vaccination_child"
    }
    assert {i["id"] for i in items} <= offering
    open_only = client.get(f"{API}/providers/nearest", params=query | {"open_only": "true"}).json()[
        "items"
    ]
    assert open_only and all(i["open_now"] and i["closes_at"] for i in open_only)
    # Wednesday 19:00: a van parked at an evening stop counts, with the stop's location.
    vans = [i for i in open_only if i["kind"] == "mobile_van"]
    stops = csv_rows(loaded / "van_stops.csv")
    for van in vans:
        assert any(
            s["provider_id"] == van["id"]
            and s["weekday"] == "3"
            and float(s["lat"]) == van["lat"]
            and s["site_name"] == van["site_name"]
            for s in stops
        )


def test_nearest_with_a_time_zone_offset_means_the_same_instant(client, loaded):
    base = {"service": "chronic_followup", "lat": 23.1, "lon": 113.3, "limit": 5}
    city = client.get(f"{API}/providers/nearest", params=base | {"at": "2026-07-01T19:00:00"})
    utc = client.get(f"{API}/providers/nearest", params=base | {"at": "2026-07-01T11:00:00Z"})
    strip = ("next_open", "closes_at")
    assert [{k: v for k, v in i.items() if k not in strip} for i in city.json()["items"]] == [
        {k: v for k, v in i.items() if k not in strip} for i in utc.json()["items"]
    ]


BAD_NEAREST = [
    ({"lat": 23.1, "lon": 113.3}, 422),  # no service
    ({"service": "x_ray_vision", "lat": 23.1, "lon": 113.3}, 400),
    ({"service": "tb_screening", "lat": 91, "lon": 113.3}, 422),
    ({"service": "tb_screening", "lat": "nan", "lon": 113.3}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": "inf"}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": "east"}, 422),
    ({"service": "tb_screening", "lat": 23.1}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "limit": 0}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "limit": 10**6}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "at": "tomorrow"}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "at": "9999-12-31T23:59:59"}, 400),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "at": "0001-01-01T00:00:00"}, 400),
    (
        {"service": "tb_screening", "lat": 23.1, "lon": 113.3, "at": "9999-12-31T23:59:59-12:00"},
        400,
    ),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "max_km": -1}, 422),
    ({"service": "tb_screening", "lat": 23.1, "lon": 113.3, "open_only": "maybe"}, 422),
    ({"service": "", "lat": 23.1, "lon": 113.3}, 422),
]


def test_every_bad_nearest_parameter_is_a_problem_never_a_500(client, env):
    for params, status in BAD_NEAREST:
        response = client.get(f"{API}/providers/nearest", params=params)
        assert is_problem(response, status), (params, response.text)


def test_nearest_on_an_empty_registry_is_an_empty_list(client, env):
    response = client.get(
        f"{API}/providers/nearest", params={"service": "tb_screening", "lat": 23.1, "lon": 113.3}
    )
    assert response.status_code == 200 and response.json()["items"] == []


def test_max_km_bounds_the_answer(client, loaded):
    params = {"service": "chronic_followup", "lat": 23.1, "lon": 113.3, "limit": 100, "max_km": 3}
    items = client.get(f"{API}/providers/nearest", params=params).json()["items"]
    assert all(i["distance_km"] <= 3 for i in items)
    every = client.get(
        f"{API}/providers/nearest", params=params | {"max_km": 2 * EARTH_RADIUS_KM}
    ).json()["items"]
    assert {i["id"] for i in items} == {i["id"] for i in every if i["distance_km"] <= 3}


def upload(tmp_path: Path) -> dict:
    """A providers file with one row in district 449901 and one in 449902."""
    path = write_csv(
        tmp_path / "upload.csv",
        PROVIDER_HEADER,
        [
            provider_row("N1", community="449901001001"),
            provider_row("N2", community="449902001001"),
            provider_row("N3", lat=123),
        ],
    )
    return {"providers": ("providers.csv", path.read_bytes(), "text/csv")}


def test_import_needs_an_official_or_admin(client, regions_loaded, tmp_path):
    url = f"{API}/providers/import"
    assert is_problem(client.post(url, files=upload(tmp_path)), 401)
    for headers in bearer("resident1", "doctor_d1"):
        assert is_problem(client.post(url, files=upload(tmp_path), headers=headers), 403)


def test_an_official_imports_only_inside_their_district(client, regions_loaded, tmp_path):
    official, admin = bearer("official_d1", "admin1")
    response = client.post(f"{API}/providers/import", files=upload(tmp_path), headers=official)
    assert response.status_code == 201, response.text
    summary = response.json()
    assert (summary["rows"], summary["accepted"], summary["quarantined"]) == (3, 1, 2)
    codes = {r["line"]: {x["code"] for x in r["reasons"]} for r in summary["rejected"]}
    assert codes == {3: {"outside_jurisdiction"}, 4: {"bad_lat"}}
    assert client.get(f"{API}/providers/N1").status_code == 200
    assert client.get(f"{API}/providers/N2").status_code == 404
    quarantine = client.get(
        f"{API}/providers/import/runs/{summary['run_id']}/quarantine",
        headers=official,
    ).json()
    assert [(q["line"], q["raw"].split(",")[0]) for q in quarantine["items"]] == [
        (3, "N2"),
        (4, "N3"),
    ]
    again = client.post(f"{API}/providers/import", files=upload(tmp_path), headers=admin).json()
    assert (again["accepted"], again["new"], again["unchanged"]) == (2, 1, 1)


def test_an_unreadable_upload_is_a_problem(client, env):
    files = {"providers": ("p.csv", b"id,name\n1,x\n", "text/csv")}
    [admin] = bearer("admin1")
    response = client.post(f"{API}/providers/import", files=files, headers=admin)
    assert is_problem(response, 400)
    assert "missing column" in response.json()["detail"]


def test_ids_that_cannot_exist_are_not_found_on_both_databases(client, env):
    assert is_problem(client.get(f"{API}/providers/P%001"), 404)
    assert is_problem(client.get(f"{API}/providers/{'P' * 200}"), 404)
