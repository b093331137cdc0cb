"""A doctor on a phone opens today's page, checks a resident in and writes the service record;
the resident's demand is then served (Chromium, against the live server)."""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from carematch.providers.catalogue import service_catalogue
from carematch.providers.hours import CITY_TZ
from tests.e2e.conftest import PASSWORD, LiveServer, Tab

pytestmark = pytest.mark.browser
DISTRICT = "449901"
# Services other browser tests read the open demands of: left alone here.
LEFT_ALONE = {"chronic_followup", "family_doctor_signing", "vaccination_child"}


def _token(server: LiveServer, username: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD}).encode()
    with urllib.request.urlopen(server.url + "/api/v1/auth/token", data=form, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


def _api(server: LiveServer, token: str, path: str, body: dict | None = None) -> Any:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST" if body is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _today_window() -> tuple[datetime, datetime]:
    """A slot that is on today's city date and has begun at most 10 minutes ago."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.astimezone(CITY_TZ).date(), time(0), tzinfo=CITY_TZ)
    start = max(now - timedelta(minutes=10), midnight.astimezone(UTC))
    return start, start + timedelta(minutes=40)


def _booked_demand(server: LiveServer, token: str) -> tuple[str, str, str, str]:
    """Book today, through the API, a resident of the doctor's district for one of their open
    demands at a provider of the district that offers it: (booking, person, demand, service)."""
    catalogue = service_catalogue()
    demands = _api(server, token, f"/api/v1/demands?status=open&community={DISTRICT}&limit=200")
    for demand in demands["items"]:
        code = demand["service"]
        if code in LEFT_ALONE or catalogue[code].slot_minutes <= 0:
            continue
        providers = _api(server, token, f"/api/v1/providers?service={code}&region={DISTRICT}")
        if not providers["items"]:
            continue
        start, end = _today_window()
        slot = _api(
            server,
            token,
            "/api/v1/slots",
            {
                "provider_id": providers["items"][0]["id"],
                "service": code,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "capacity": 4,
            },
        )
        booking = _api(
            server,
            token,
            "/api/v1/bookings",
            {"slot_id": slot["id"], "person_id": demand["person_id"], "demand_id": demand["id"]},
        )
        return booking["id"], demand["person_id"], demand["id"], code
    pytest.fail(f"no open demand in {DISTRICT} that a provider of the district can book")


def _demand_status(server: LiveServer, token: str, demand_id: str, service: str) -> str:
    """The demand's status, read from the demand list of the district (paged through)."""
    for status in ("open", "served", "closed"):
        offset, total = 0, 1
        while offset < total:
            page = _api(
                server,
                token,
                f"/api/v1/demands?status={status}&service={service}&community={DISTRICT}"
                f"&limit=200&offset={offset}",
            )
            if any(d["id"] == demand_id for d in page["items"]):
                return status
            offset, total = offset + 200, page["total"]
    raise AssertionError(f"demand {demand_id} not found")


def _snap(tab: Tab, name: str) -> None:
    """A full-page picture when CAREMATCH_SCREENSHOTS names a folder (for reviewing the layout)."""
    folder = os.environ.get("CAREMATCH_SCREENSHOTS")
    if folder:
        tab.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def test_a_doctor_checks_in_a_resident_and_records_the_visit_on_a_phone(
    phone: Tab, live_server: LiveServer
):
    token = _token(live_server, "doctor")
    booking, person, demand, service = _booked_demand(live_server, token)
    assert _demand_status(live_server, token, demand, service) == "open"

    phone.sign_in("doctor")
    phone.goto("/workbench/today")
    row = phone.page.locator(f"li.appointment[data-booking='{booking}']")
    assert row.get_attribute("data-status") == "booked"
    assert phone.horizontal_overflow() == 0
    _snap(phone, "today")

    with phone.page.expect_navigation():
        row.locator("button.check-in").click()
    row = phone.page.locator(f"li.appointment[data-booking='{booking}']")
    assert row.get_attribute("data-status") == "checked_in"
    assert phone.page.locator("#checked-in-notice").is_visible()

    with phone.page.expect_navigation():
        row.locator("a.write-record").click()
    assert phone.horizontal_overflow() == 0
    _snap(phone, "today-record-form")
    phone.page.fill("#summary", "血压 132/84，健康指导；一年后复查")
    phone.page.check("input[name=outcome][value=follow_up]")
    next_visit = (datetime.now(CITY_TZ).date() + timedelta(days=365)).isoformat()
    phone.page.fill("#next_followup_on", next_visit)
    with phone.page.expect_navigation():
        phone.page.click("#save-record")

    notice = phone.page.locator("#recorded")
    assert notice.is_visible()
    assert int(notice.get_attribute("data-served") or 0) >= 1  # the booked need at least
    _snap(phone, "today-recorded")
    row = phone.page.locator(f"li.appointment[data-booking='{booking}']")
    assert row.get_attribute("data-status") == "completed"
    assert row.locator("button.check-in").count() == 0

    assert _demand_status(live_server, token, demand, service) == "served"
    records = _api(live_server, token, f"/api/v1/service-records?person_id={person}")
    assert [r["booking_id"] for r in records["items"]] == [booking]
    assert records["items"][0]["next_followup_on"] == next_visit
    assert phone.errors == []
