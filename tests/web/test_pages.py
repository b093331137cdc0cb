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


def test_an_unlinked_resident_is_told_so_without_invented_data(client: TestClient, signed_in):
    signed_in("resident")

    page = client.get("/portal").text

    # The resident is not linked to a person, and the page says so rather than pretend:
    # no needs, bookings or reminders are shown, and the service search is offered instead.
    assert 'id="not-linked"' in page and "尚未关联健康档案" in page
    assert 'href="/services/nearby"' in page
    for section in ('id="my-needs"', 'id="my-bookings"', 'id="my-reminders"'):
        assert section not in page
    assert "即将上线" not in page  # nothing is promised as "coming soon" any more


def test_pages_fit_a_phone(client: TestClient):
    page = client.get("/").text

    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
