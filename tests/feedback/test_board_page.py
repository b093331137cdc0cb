"""The public progress board page (/board): the board's numbers in tables beside the charts,
no personal data, no sign-in, mobile-first and light."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient

from tests.feedback.conftest import bearer
from tests.feedback.test_api import accepted_complaint, file, move, open_items


@pytest.fixture
def web(env) -> Iterator[TestClient]:
    """The app as carematch/web/pages.py mounts it."""
    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        yield client


def table(html: str, table_id: str) -> dict[str, str]:
    """code → number of the rows of one count table."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-code="([^"]+)">.*?<td class="num">([^<]+)</td>', body, re.S)
    return dict(rows)


def test_the_board_page_shows_the_boards_numbers_and_no_personal_data(web, world):
    secret = "李四投诉医生泄露其艾滋病检测结果"
    cid = accepted_complaint(web, world, text=secret, category="privacy")
    file(web, "grid_d1", channel="letter", provider_id=world.provider_d2, contact="13700001111")
    items = open_items(web, cid, date(2026, 3, 20)).json()["items"]
    move(web, cid, "answered", "李四您好，已处理")
    web.patch(
        f"/api/v1/rectifications/{items[0]['id']}",
        json={"status": "done", "evidence_text": "李四签字"},
        headers=bearer("doctor_d1"),
    )

    response = web.get("/board")

    assert response.status_code == 200
    html = response.text
    api = web.get("/api/v1/board").json()
    assert table(html, "complaint-status-table") == {
        s: str(n) for s, n in api["complaints"]["by_status"].items()
    }
    assert table(html, "complaint-category-table")["privacy"] == "1"
    assert table(html, "complaint-category-table")["service_attitude"] == "1"
    assert table(html, "item-status-table")["done"] == "1"
    assert table(html, "item-status-table")["open"] == "1"
    ledger = html.split('id="ledger-table"', 1)[1]
    assert ledger.count("<tr data-id=") == 2
    assert "幸福社区卫生服务中心" in ledger
    assert "区卫健局医政科" in ledger
    for personal in (secret, "李四", "13700001111", world.person_d1, "resident1", "grid_d1"):
        assert personal not in html
    charts = json.loads(html.split('id="board-data">', 1)[1].split("</script>", 1)[0])
    assert [r["count"] for r in charts["item_status"]] == [
        api["rectifications"]["by_status"][r["code"]] for r in charts["item_status"]
    ]
    assert '<script src="/static/vendor/echarts/echarts.min.js" defer></script>' in html
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html


def test_the_board_page_needs_no_sign_in_and_switches_language(web, world):
    chinese = web.get("/board")
    english = web.get("/board?lang=en")

    assert chinese.status_code == english.status_code == 200
    assert '<html lang="zh-Hans-CN"' in chinese.text
    assert '<html lang="en"' in english.text
    assert "Public progress board" in english.text
    assert "No rectification items yet." in english.text
    # Category names come from the category table in the page's language.
    assert "Staff attitude" in english.text
    assert "服务态度" in chinese.text


def test_the_ledger_is_paged(web, world):
    cid = accepted_complaint(web, world)
    body = {
        "source": "complaint",
        "complaint_id": cid,
        "text": "多项问题",
        "items": [{"measure": f"整改措施{n}", "deadline": "2026-03-31"} for n in range(15)],
    }
    web.post("/api/v1/rectifications", json=body, headers=bearer("official_d1"))
    web.post("/api/v1/rectifications", json=body, headers=bearer("official_d1"))

    first = web.get("/board").text
    second = web.get("/board?offset=20").text

    assert first.count("<tr data-id=") == 20
    assert second.count("<tr data-id=") == 10
    assert 'href="/board?offset=20"' in first
    assert 'href="/board?offset=0"' in second
    assert web.get("/board?offset=-1").status_code == 422


def test_the_page_and_its_own_assets_stay_light(web, world):
    html = web.get("/board").content
    script = web.get("/static/js/feedback-board.js")
    style = web.get("/static/css/feedback-board.css")

    assert script.status_code == style.status_code == 200
    # ECharts (vendored, shared and cached with the other pages) is the only large asset.
    assert len(html) + len(script.content) + len(style.content) < 40_000
