"""The service loop end to end, in Chromium against the live server: an older resident in the
elderly mode books their top recommendation with one tap, sees the reminder in their inbox, the
doctor checks them in and writes the service record, the need closes, the resident rates the
visit, and the official's cockpit counts move."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from carematch.providers.catalogue import service_catalogue
from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli, _open_tab
from tests.e2e.test_today_browser import _api, _demand_status, _snap, _token

pytestmark = pytest.mark.browser
DISTRICT = "449901"
# Services other browser tests read the open demands of: left alone here.
LEFT_ALONE = {"chronic_followup", "family_doctor_signing", "vaccination_child"}
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@contextmanager
def _device(browser: Any, server: LiveServer, **options: Any) -> Iterator[Tab]:
    tabs = _open_tab(browser, server, **options)
    try:
        yield next(tabs)
    finally:
        tabs.close()


def _env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    return env


def _need_with_a_local_top_provider(server: LiveServer, token: str) -> tuple[str, str, str, str]:
    """A resident of the district with an open need whose best-ranked provider is in the
    district too (so the district's doctor sees the visit): (person, demand, service, provider)."""
    catalogue = service_catalogue()
    demands = _api(server, token, f"/api/v1/demands?status=open&community={DISTRICT}&limit=200")
    for demand in demands["items"]:
        code = demand["service"]
        if code in LEFT_ALONE or catalogue[code].slot_minutes <= 0:
            continue
        recs = _api(
            server,
            token,
            f"/api/v1/persons/{demand['person_id']}/recommendations?service={code}&limit=1",
        )
        choices = recs["services"][0]["choices"] if recs["services"] else []
        if not choices:
            continue
        provider = _api(server, token, f"/api/v1/providers/{choices[0]['provider_id']}")
        if str(provider["region_code"]).startswith(DISTRICT):
            return demand["person_id"], demand["id"], code, choices[0]["provider_id"]
    pytest.fail(f"no open need in {DISTRICT} whose best provider is in the district")


def _loop(tab: Tab) -> dict[str, int]:
    """The cockpit's service-loop cards, as the official reads them."""
    tab.goto("/cockpit")
    counts = {}
    for card in ("open", "booked", "served", "records", "ratings"):
        value = tab.page.get_attribute(f"#loop-{card} .stat-value", "data-count")
        counts[card] = int(value or -1)
    return counts


def test_elderly_resident_books_with_one_tap_and_the_loop_closes(
    browser: Any, live_server: LiveServer, phone: Tab, tab: Tab
):
    token = _token(live_server, "doctor")
    person, demand, service, provider = _need_with_a_local_top_provider(live_server, token)
    start = datetime.now(UTC) + timedelta(minutes=2)
    slot = _api(
        live_server,
        token,
        "/api/v1/slots",
        {
            "provider_id": provider,
            "service": service,
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=30)).isoformat(),
            "capacity": 3,
        },
    )
    username = f"elder_{person[:8]}"
    _cli(
        _env(live_server),
        "users",
        "create",
        username,
        "--role",
        "resident",
        "--person",
        person,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    tab.sign_in("official")
    before = _loop(tab)

    # The resident, on a phone, in the elderly mode: one big button books the top offer.
    phone.sign_in(username)
    assert phone.page.url.endswith("/portal")
    phone.goto("/portal?text=large")
    assert phone.page.locator("html.text-large").count() == 1
    button = phone.page.locator("#one-tap-book")
    assert button.is_visible()
    box = button.bounding_box()
    assert box is not None and box["height"] >= 60  # easy to hit
    assert phone.horizontal_overflow() == 0
    assert re.search(r"\S", phone.page.inner_text("#speak-text"))
    _snap(phone, "portal-elderly")
    with phone.page.expect_navigation():
        button.click()
    assert phone.page.locator("#portal-notice").is_visible()
    booked = phone.page.locator("#my-bookings li.my-booking[data-status='booked']")
    assert booked.count() == 1
    booking = booked.get_attribute("data-booking")
    assert booking
    mine = _api(live_server, token, f"/api/v1/bookings?person_id={person}")
    assert [(b["id"], b["slot_id"]) for b in mine["items"]] == [(booking, slot["id"])]

    # The worker delivers the confirmation to the in-app inbox.
    _cli(_env(live_server), "worker", "--once")
    phone.page.reload()
    reminder = phone.page.locator("#my-reminders li.reminder.unread")
    assert reminder.count() == 1
    assert "预约提醒" in reminder.inner_text()

    # The doctor checks the resident in and writes the service record.
    with _device(browser, live_server, **PHONE) as doctor:
        doctor.sign_in("doctor")
        doctor.goto("/workbench/today")
        row = doctor.page.locator(f"li.appointment[data-booking='{booking}']")
        with doctor.page.expect_navigation():
            row.locator("button.check-in").click()
        row = doctor.page.locator(f"li.appointment[data-booking='{booking}']")
        assert row.get_attribute("data-status") == "checked_in"
        with doctor.page.expect_navigation():
            row.locator("a.write-record").click()
        doctor.page.fill("#summary", "测量血压，健康指导")
        doctor.page.check("input[name=outcome][value=resolved]")
        with doctor.page.expect_navigation():
            doctor.page.click("#save-record")
        served = int(doctor.page.locator("#recorded").get_attribute("data-served") or 0)
        assert served >= 1
        assert doctor.errors == []
    assert _demand_status(live_server, token, demand, service) == "served"

    # The resident rates the visit.
    phone.page.reload()
    visit = phone.page.locator(f"#my-bookings li.my-booking[data-booking='{booking}']")
    assert visit.get_attribute("data-status") == "completed"
    visit.locator("input[name=score][value='5']").check()
    visit.locator("textarea[name=comment]").fill("医生很耐心")
    with phone.page.expect_navigation():
        visit.locator("button.rate").click()
    visit = phone.page.locator(f"#my-bookings li.my-booking[data-booking='{booking}']")
    assert visit.locator(".rated").inner_text() == "★★★★★"
    _snap(phone, "portal-rated")
    assert phone.errors == []

    # The cockpit's counts moved by exactly this visit.
    after = _loop(tab)
    assert after["records"] == before["records"] + 1
    assert after["ratings"] == before["ratings"] + 1
    assert after["served"] == before["served"] + served
    assert after["open"] == before["open"] - served
    assert after["booked"] == before["booked"]
