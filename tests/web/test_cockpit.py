"""The cockpit: district counts scoped to the official's jurisdiction, map and empty state."""

from __future__ import annotations

from fastapi.testclient import TestClient

from carematch.core.db import session_scope
from carematch.security.service import create_user
from tests.web.conftest import BAIYUN, JIANGNAN, PASSWORD, City, login


def _by_code(payload: dict) -> dict[str, dict]:
    return {d["code"]: d for d in payload["districts"]}


def test_city_official_sees_every_district_with_its_counts(client, city: City, signed_in):
    signed_in("official")

    payload = client.get("/cockpit/data/districts").json()

    rows = _by_code(payload)
    assert set(rows) == {BAIYUN, JIANGNAN}
    for code, expected in city.counts.items():
        assert {k: rows[code][k] for k in expected} == expected
    assert payload["totals"] == {"persons": 5, "migrants": 2, "records": 6}
    assert rows[BAIYUN]["label"] == "白云区"


def test_district_official_sees_only_their_district(client, city: City, signed_in):
    signed_in("baiyun_official")

    payload = client.get("/cockpit/data/districts").json()

    assert payload["jurisdiction"] == BAIYUN
    assert list(_by_code(payload)) == [BAIYUN]
    assert payload["totals"] == city.counts[BAIYUN]


def test_district_official_page_and_map_hide_other_districts(client, city: City, signed_in):
    signed_in("baiyun_official")

    page = client.get("/cockpit").text
    shapes = client.get("/cockpit/data/map").json()

    assert "白云区" in page
    assert "江南区" not in page
    assert [f["properties"]["code"] for f in shapes["features"]] == [BAIYUN]


def test_admin_sees_everything(client, city: City, signed_in):
    signed_in("admin")

    payload = client.get("/cockpit/data/districts").json()

    assert payload["jurisdiction"] is None
    assert set(_by_code(payload)) == {BAIYUN, JIANGNAN}


def test_street_official_sees_their_district_row_counting_only_their_street(client, city: City):
    with session_scope() as session:
        create_user(session, "jiangnan_street", "official", PASSWORD, "449902001")
    login(client, "jiangnan_street")

    payload = client.get("/cockpit/data/districts").json()

    assert list(_by_code(payload)) == [JIANGNAN]
    assert payload["totals"] == city.counts[JIANGNAN]


def test_cockpit_page_shows_cards_table_and_chart_hooks(client, city: City, signed_in):
    signed_in("official")

    page = client.get("/cockpit").text

    assert 'id="stat-persons"' in page
    assert 'data-map-url="/cockpit/data/map"' in page
    assert 'id="district-map"' in page
    assert "/static/vendor/echarts/echarts.min.js" in page
    assert 'id="cockpit-labels"' in page
    assert '<tr data-code="449901">' in page
    assert "辖区：江城市" in page


def test_cockpit_in_english_uses_english_district_names(client, city: City, signed_in):
    signed_in("official")

    page = client.get("/cockpit?lang=en").text
    payload = client.get("/cockpit/data/districts").json()

    assert "Baiyun District" in page
    assert "Residents by district" in page
    assert payload["locale"] == "en"
    assert _by_code(payload)[BAIYUN]["label"] == "Baiyun District"


def test_cockpit_without_a_city_shows_the_empty_state(client: TestClient, signed_in):
    signed_in("official")

    page = client.get("/cockpit")

    assert page.status_code == 200
    assert 'id="cockpit-empty"' in page.text
    assert "尚未导入城市数据" in page.text
    assert "carematch serve --demo" in page.text
    assert "echarts.min.js" not in page.text
    assert client.get("/cockpit/data/districts").json()["districts"] == []


def test_missing_geojson_hides_the_map_but_keeps_the_numbers(client, city: City, signed_in, env):
    (env.data_dir / "city" / "districts.geojson").unlink()
    signed_in("official")

    page = client.get("/cockpit").text
    shapes = client.get("/cockpit/data/map")

    assert 'id="map-missing"' in page
    assert 'id="district-map"' not in page
    assert '<tr data-code="449901">' in page
    assert shapes.status_code == 404
