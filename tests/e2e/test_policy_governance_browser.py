"""A policy hearing end to end in Chromium against the live server: an official opens a
hearing on a draft, a resident of the district gives an opinion on the public page, the
official is refused "not adopted" without a reason, gives one, closes the hearing, and the
public page, read signed out, shows the result with the reason and without the author."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli, _open_tab
from tests.e2e.test_today_browser import _api, _token

pytestmark = pytest.mark.browser
REASON = "疫苗按户籍和常住人口足额采购，但55岁以上人群的接种点容量尚未评估，本期暂不扩大。"
OPINION = "支持扩大范围！我母亲57岁，电话13800138000，每年都自费打流感疫苗。"


def _env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    return env


def _resident_account(server: LiveServer, token: str) -> str:
    """A resident account for a person of the district who has none yet.

    The live server is shared by the whole browser session, and other stories give accounts to
    some of its persons (a person has at most one), so take the first person still free.
    """
    for person in _api(server, token, "/api/v1/persons?limit=50")["items"]:
        username = f"hearing_{person['id'][:10]}"
        try:
            _cli(
                _env(server),
                "users",
                "create",
                username,
                "--role",
                "resident",
                "--person",
                person["id"],
                "--password-stdin",
                stdin=PASSWORD + "\n",
            )
        except AssertionError as exc:
            if "already has an account" in str(exc):
                continue
            raise
        return username
    pytest.fail("every one of the first 50 persons already has an account")


def test_a_hearing_from_draft_to_published_result(browser: Any, live_server: LiveServer, tab: Tab):
    token = _token(live_server, "baiyun_official")
    resident = _resident_account(live_server, token)

    # The official opens a hearing on a draft copied from the elderly flu jab policy.
    tab.sign_in("baiyun_official")
    tab.goto("/cockpit/policies")
    tab.page.click('tr[data-policy="P-ELDER-FLU"] a[href^="/cockpit/hearings/new"]')
    draft = tab.page.input_value("#draft")
    assert "P-ELDER-FLU" in draft and "age >= 60" in draft
    tab.page.fill("#draft", draft.replace("age >= 60", "age >= 55"))
    tab.page.fill("#summary", "拟将老年人免费流感疫苗接种年龄由60岁降至55岁。")
    with tab.page.expect_navigation():
        tab.page.click("#open-hearing")
    staff_url = tab.page.url
    hearing_id = staff_url.rstrip("/").rsplit("/", 1)[1]
    assert "/cockpit/hearings/" in staff_url
    assert tab.page.get_attribute("#hearing-meta", "data-status") == "open"

    # A resident of the district gives an opinion on the public page.
    resident_tabs = _open_tab(browser, live_server, viewport={"width": 375, "height": 812})
    phone = next(resident_tabs)
    try:
        phone.goto(f"/hearings/{hearing_id}")
        with phone.page.expect_navigation():
            phone.page.click("#sign-in-to-give")
        phone.sign_in(resident)
        assert phone.page.url.endswith(f"/hearings/{hearing_id}")
        phone.page.fill("#text", OPINION)
        with phone.page.expect_navigation():
            phone.page.click("#submit-opinion")
        assert phone.page.is_visible("#opinion-received")
        assert phone.page.is_visible("#my-opinion")
        assert phone.errors == []
    finally:
        resident_tabs.close()

    # "Not adopted" without a reason is refused, with the reason it is recorded.
    tab.goto(f"/cockpit/hearings/{hearing_id}")
    opinion = tab.page.locator("article.opinion").first
    assert OPINION in opinion.inner_text()
    opinion.locator('input[value="not_adopted"]').check()
    with tab.page.expect_navigation():
        opinion.locator("button[type=submit]").click()
    assert tab.page.is_visible("#decision-error")
    assert tab.page.get_attribute("article.opinion", "data-decision") == ""
    opinion = tab.page.locator("article.opinion").first
    opinion.locator('input[value="not_adopted"]').check()
    opinion.locator("textarea[name=reason]").fill(REASON)
    with tab.page.expect_navigation():
        opinion.locator("button[type=submit]").click()
    assert tab.page.get_attribute("article.opinion", "data-decision") == "not_adopted"
    with tab.page.expect_navigation():
        tab.page.click("#close-hearing")
    assert tab.page.url.endswith(f"/hearings/{hearing_id}")
    # The refusal page is answered 400 on purpose; the browser logs that, and nothing else.
    assert [e for e in tab.errors if "status of 400" not in e] == []

    # Anyone, signed out, reads the published result.
    public_tabs = _open_tab(browser, live_server, viewport={"width": 1280, "height": 900})
    reader = next(public_tabs)
    try:
        reader.goto(f"/hearings/{hearing_id}")
        result = reader.page.locator("#hearing-result")
        assert reader.page.get_attribute("#result-counts", "data-not-adopted") == "1"
        assert reader.page.get_attribute("#result-counts", "data-adopted") == "0"
        text = result.inner_text()
        assert REASON in text
        assert "13800138000" not in text and "***" in text
        assert resident not in reader.page.content()
        assert reader.page.get_attribute("#published-1", "data-decision") == "not_adopted"
    finally:
        public_tabs.close()
