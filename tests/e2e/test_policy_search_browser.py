"""Policy search in Chromium on a phone with JavaScript switched off (issue 7, item 3 and 9):
an older resident asks on 我能享受的政策 in their own words and gets the clause, whether it
applies, and services to book; a doctor searches the case library on the workbench."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli, _open_tab
from tests.e2e.test_today_browser import _api, _token

pytestmark = pytest.mark.browser


@pytest.fixture
def bare_phone(browser: Any, live_server: LiveServer) -> Iterator[Tab]:
    """A phone-sized tab (375×812, touch) that runs no script at all."""
    yield from _open_tab(
        browser,
        live_server,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )


def _an_older_person(server: LiveServer, token: str) -> dict[str, Any]:
    offset, total = 0, 1
    while offset < total:
        page = _api(server, token, f"/api/v1/persons?limit=200&offset={offset}")
        for person in page["items"]:
            if person["birth_year"] and date.today().year - person["birth_year"] >= 70:
                return person
        offset, total = offset + 200, page["total"]
    pytest.fail("no person aged 70 or more in the city")


def test_a_resident_asks_in_their_own_words_on_a_phone_without_script(
    live_server: LiveServer, bare_phone: Tab
):
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(live_server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    person = _an_older_person(live_server, _token(live_server, "official"))
    username = f"elder_{person['id'][:8]}"
    _cli(env, "users", "create", username, "--role", "resident", "--person", person["id"],
         "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    page = bare_phone.page

    bare_phone.sign_in(username)
    bare_phone.goto("/portal/policies")
    page.fill("#policy-q", "老人打流感疫苗要自己掏钱吗")
    with page.expect_navigation():
        page.click("form.policy-search button[type=submit]")

    results = page.locator("#search-results li.answer")
    assert results.count() >= 1
    first = results.first
    assert first.get_attribute("data-policy") == "P-ELDER-FLU"
    assert "流感疫苗" in first.locator("blockquote.clause").inner_text()
    assert "可以享受" in first.inner_text()  # 70 or more: the free flu jab applies
    assert first.locator("a.book-service").count() >= 1
    assert bare_phone.horizontal_overflow() == 0
    assert "q=" in page.url


def test_a_doctor_searches_the_case_library_on_a_phone(bare_phone: Tab):
    page = bare_phone.page
    bare_phone.sign_in("doctor")
    bare_phone.goto("/workbench")
    with page.expect_navigation():
        page.click("#cases-link")
    assert page.locator("li.case").count() >= 12

    page.fill("#case-q", "孩子疫苗漏打了")
    with page.expect_navigation():
        page.click("#case-search button[type=submit]")

    assert page.locator("li.case").first.get_attribute("data-case") == "C-004"
    assert page.locator("li.case .answer").first.is_visible()
    assert bare_phone.horizontal_overflow() == 0
