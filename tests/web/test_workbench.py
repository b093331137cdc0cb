"""The workbench: persons in the worker's jurisdiction, masked, paginated with HTMX."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.security.models import AuditEntry
from tests.web.conftest import JIANGNAN, City


def _rows(html: str) -> int:
    return html.count("<tr data-person=")


def test_doctor_sees_only_their_district_with_masked_names(client, city: City, signed_in):
    signed_in("doctor")

    page = client.get("/workbench").text

    assert _rows(page) == 3
    assert "欧**华" in page
    assert "上**娟" not in page  # 江南区 is outside the doctor's district
    for full in city.full_names:
        assert full not in page


def test_grid_worker_is_scoped_to_their_community(client, city: City, signed_in):
    signed_in("grid")

    page = client.get("/workbench").text

    assert _rows(page) == 3
    assert "云山社区" in page


def test_city_official_can_narrow_to_a_district(client, city: City, signed_in):
    signed_in("official")

    everything = client.get("/workbench").text
    jiangnan = client.get("/workbench", params={"region": JIANGNAN}).text

    assert _rows(everything) == 5
    assert _rows(jiangnan) == 2
    assert "江湾社区" in jiangnan and "云山社区" not in jiangnan


def test_a_region_outside_the_jurisdiction_is_refused(client, city: City, signed_in):
    signed_in("doctor")

    page = client.get("/workbench", params={"region": JIANGNAN}).text

    assert _rows(page) == 3
    assert "不在您的辖区内" in page
    assert "上**娟" not in page


def test_pages_through_the_list_with_htmx_fragments(client, city: City, signed_in, monkeypatch):
    monkeypatch.setattr("carematch.web.workbench.routes.PAGE_SIZE", 2)
    signed_in("official")

    first = client.get("/workbench").text
    fragment = client.get("/workbench/persons?offset=2", headers={"HX-Request": "true"})

    assert _rows(first) == 2
    assert 'hx-get="/workbench/persons?offset=2"' in first
    assert 'href="/workbench?offset=2"' in first
    assert fragment.text.lstrip().startswith('<section id="persons"')
    assert "<html" not in fragment.text
    assert _rows(fragment.text) == 2
    assert fragment.headers["HX-Push-Url"] == "/workbench?offset=2"
    assert 'rel="prev"' in fragment.text and 'rel="next"' in fragment.text
    last = client.get("/workbench/persons?offset=4").text
    assert _rows(last) == 1
    assert 'rel="next"' not in last


def test_page_links_keep_the_region_filter(client, city: City, signed_in, monkeypatch):
    monkeypatch.setattr("carematch.web.workbench.routes.PAGE_SIZE", 1)
    signed_in("official")

    page = client.get("/workbench", params={"region": JIANGNAN}).text

    assert f'hx-get="/workbench/persons?offset=1&amp;region={JIANGNAN}"' in page


def test_listing_is_audited(client, city: City, signed_in):
    signed_in("doctor")

    client.get("/workbench")

    with session_scope() as session:
        entries = session.scalars(
            select(AuditEntry).where(
                AuditEntry.actor == "doctor", AuditEntry.action == "list_persons"
            )
        ).all()
    assert len(entries) == 1
    assert '"via": "web"' in entries[0].detail


def test_empty_jurisdiction_says_so(client, signed_in):
    signed_in("doctor")

    page = client.get("/workbench").text

    assert "该区域暂无居民档案" in page


@pytest.mark.parametrize(
    ("user", "shown", "hidden"),
    [
        (
            "doctor",
            {"consultations-link", "observation-link", "rectification-link", "cases-link"},
            {"complaints-link"},
        ),
        (
            "official",
            {"complaints-link", "rectification-link", "cases-link"},
            {"consultations-link"},
        ),
        ("grid", {"cases-link"}, {"consultations-link", "observation-link", "complaints-link"}),
    ],
)
def test_the_workbench_links_the_work_areas_each_role_may_open(
    signed_in, city, user: str, shown: set[str], hidden: set[str]
):
    client = signed_in(user)
    page = client.get("/workbench")
    assert page.status_code == 200
    links = dict(re.findall(r'<a class="button" id="([a-z-]+-link)" href="([^"]+)"', page.text))
    assert shown <= set(links) and not hidden & set(links)
    for key in shown:  # every link shown opens for this user
        assert client.get(links[key]).status_code == 200, key
