"""A doctor at a resident's door records a home visit on a phone with JavaScript switched off:
the needs noticed and a Barthel assessment totalling 35, which grades as severe dependence
(Chromium at 375 px, against the live server)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.assessments.conftest import barthel_answers
from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _open_tab

pytestmark = pytest.mark.browser
DISTRICT = "449901"


@pytest.fixture
def phone_without_script(browser: Any, live_server: LiveServer) -> Iterator[Tab]:
    """A phone-sized tab (375×812) that runs no script at all."""
    yield from _open_tab(
        browser,
        live_server,
        viewport={"width": 375, "height": 812},
        is_mobile=True,
        has_touch=True,
        java_script_enabled=False,
    )


def _person_of_district(server: LiveServer) -> str:
    form = urllib.parse.urlencode({"username": "doctor", "password": PASSWORD}).encode()
    with urllib.request.urlopen(server.url + "/api/v1/auth/token", data=form, timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    request = urllib.request.Request(
        server.url + "/api/v1/persons?limit=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(json.loads(response.read())["items"][0]["id"])


def test_a_doctor_records_a_visit_on_a_phone_without_javascript(
    phone_without_script: Tab, live_server: LiveServer
):
    tab = phone_without_script
    person_id = _person_of_district(live_server)
    tab.sign_in("doctor")
    tab.goto(f"/workbench/visits/new?person_id={person_id}")
    page = tab.page
    assert page.locator("h1").inner_text() == "入户走访"
    assert tab.horizontal_overflow() == 0
    page.check("input[name=lives_alone][value=yes]")
    page.check("input[name=needs][value=home_help]")
    page.click("details summary")  # opens without script
    for code, score in barthel_answers(35).items():
        page.select_option(f"#adl_{code}", str(score))
    page.fill("#note", "独居，行动不便")
    with page.expect_navigation():
        page.click("#save-visit")
    result = page.locator("#barthel-result").inner_text()
    assert "35" in result and "重度依赖" in result
    assert tab.horizontal_overflow() == 0
    assert tab.errors == []
