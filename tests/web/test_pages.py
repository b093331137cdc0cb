"""The landing page and the resident portal shell."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_landing_presents_the_three_faces(client: TestClient):
    page = client.get("/").text

    for face in ("face-portal", "face-workbench", "face-cockpit"):
        assert f'id="{face}"' in page
    assert 'href="/login"' in page
    assert "居民服务端" in page and "决策驾驶舱" in page


def test_landing_shows_who_is_signed_in(client: TestClient, signed_in):
    signed_in("official")

    page = client.get("/").text

    assert "卫健委官员" in page
    assert 'action="/logout"' in page
    assert 'href="/login"' not in page


def test_portal_describes_what_is_coming_without_inventing_data(client: TestClient, signed_in):
    signed_in("resident")

    page = client.get("/portal").text

    assert 'id="my-record"' in page and 'id="my-services"' in page
    assert "即将上线" in page
    # The demo resident is not linked to a person, and the page says so rather than pretend.
    assert "尚未关联健康档案" in page


def test_pages_fit_a_phone(client: TestClient):
    page = client.get("/").text

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
