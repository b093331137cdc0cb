"""A parent's vaccination story in Chromium against the live server (issue 6): the parent of a
migrant child sees the child's overdue catch-up doses, books a 15-minute slot, answers the
pre-screening questions, and after the (simulated) administration downloads the certificate,
whose QR code — read back from the downloaded file — opens the verify page, which says valid."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from PIL import Image

from carematch.core.clock import CITY_TZ
from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli
from tests.e2e.test_today_browser import _api, _snap, _token

pytestmark = pytest.mark.browser
# The city's official finds the family (migrant children are few in a 600-resident city, so the
# whole city is searched) and opens the slot; the vaccinator works in the child's district.


def _env(server: LiveServer) -> dict[str, str]:
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    return env


def _persons(server: LiveServer, token: str) -> list[dict[str, Any]]:
    out, offset, total = [], 0, 1
    while offset < total:
        page = _api(server, token, f"/api/v1/persons?limit=200&offset={offset}")
        out.extend(page["items"])
        offset, total = offset + 200, page["total"]
    return out


def _child_with_a_bookable_overdue_dose(
    server: LiveServer, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A migrant child with a dose overdue and bookable today, and an adult of the same
    community to be the parent: (child, parent)."""
    people = _persons(server, token)
    city_day = datetime.now(CITY_TZ).date()  # vaccination dates are city days
    this_year, today = city_day.year, city_day.isoformat()
    for child in people:
        if child["hukou"] != "migrant" or not child["birth_year"]:
            continue
        if this_year - child["birth_year"] > 14 or not child["community_code"]:
            continue
        forecast = _api(server, token, f"/api/v1/persons/{child['id']}/vaccination-forecast")
        if not any(
            f["status"] == "overdue" and f.get("due_date", today) <= today
            for f in forecast["forecast"]
        ):
            continue
        parent = next(
            (
                p
                for p in people
                if p["community_code"] == child["community_code"]
                and p["birth_year"]
                and 22 <= this_year - p["birth_year"] <= 50
            ),
            None,
        )
        if parent is not None:
            return child, parent
    pytest.fail("no migrant child with an overdue dose bookable today")


def _qr_text(image: Path) -> str:
    (code,) = zxingcpp.read_barcodes(Image.open(image))
    return str(code.text)


def test_a_parent_books_prescreens_and_gets_a_certificate_that_verifies(
    live_server: LiveServer, phone: Tab, tmp_path: Path
):
    env = _env(live_server)
    official = _token(live_server, "official")
    child, parent = _child_with_a_bookable_overdue_dose(live_server, official)
    district = child["community_code"][:6]
    _cli(env, "users", "create", "vaccinator", "--role", "vaccinator", "--region", district,
         "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    username = f"parent_{parent['id'][:8]}"
    _cli(env, "users", "create", username, "--role", "resident", "--person", parent["id"],
         "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    _api(
        live_server,
        official,
        "/api/v1/dependants",
        {"guardian_id": parent["id"], "dependant_id": child["id"], "relation": "child"},
    )
    providers = _api(
        live_server, official, f"/api/v1/providers?service=vaccination_child&region={district}"
    )
    provider = providers["items"][0]["id"]
    start = datetime.now(UTC) + timedelta(minutes=5)
    slot = _api(
        live_server,
        official,
        "/api/v1/slots",
        {
            "provider_id": provider,
            "service": "vaccination_child",
            "start": start.isoformat(),
            "end": (start + timedelta(minutes=15)).isoformat(),
            "capacity": 1,
        },
    )

    # The parent sees the child's overdue catch-up doses and books the 15-minute slot.
    phone.sign_in(username)
    phone.goto("/portal")
    with phone.page.expect_navigation():
        phone.page.click("#to-vaccination")
    member = phone.page.locator(f"section.member[data-person='{child['id']}']")
    overdue = member.locator("li.dose[data-status='overdue']")
    assert overdue.count() >= 1
    assert phone.horizontal_overflow() == 0
    _snap(phone, "family-vaccinations")
    dose = member.locator(
        f"li.dose[data-status='overdue']:has(input[name=slot_id][value='{slot['id']}'])"
    ).first
    series = dose.get_attribute("data-series")
    assert series
    with phone.page.expect_navigation():
        dose.locator(f"form:has(input[value='{slot['id']}']) button").click()
    assert phone.page.locator("#vx-booked").is_visible()
    member = phone.page.locator(f"section.member[data-person='{child['id']}']")
    appointment = member.locator(f"li.vx-appointment[data-series='{series}']")
    assert appointment.get_attribute("data-status") == "booked"

    # Pre-screening: nothing true today → the outcome is "pass".
    with phone.page.expect_navigation():
        appointment.locator("a.prescreen").click()
    with phone.page.expect_navigation():
        phone.page.click("form[action^='/portal/vaccination/prescreen'] button[type=submit]")
    assert phone.page.get_attribute("#prescreen-result", "data-status") == "pass"
    _snap(phone, "prescreen-pass")

    # The vaccinator gives the dose (simulated through the API, from a registered lot).
    vaccinator = _token(live_server, "vaccinator")
    forecast = _api(live_server, official, f"/api/v1/persons/{child['id']}/vaccination-forecast")
    dose_number = next(f["dose"] for f in forecast["forecast"] if f["series"] == series)
    lot = _api(
        live_server,
        vaccinator,
        "/api/v1/coldchain/lots",
        {
            "manufacturer": "江城生物",
            "product": series,
            "lot_number": f"L{child['id'][:6]}",
            "expiry": (date.today() + timedelta(days=365)).isoformat(),
            "location_id": "FRIDGE-1",
            "region_code": district,
        },
    )
    _api(
        live_server,
        vaccinator,
        "/api/v1/vaccination/administrations",
        {
            "person_id": child["id"],
            "lot_id": lot["id"],
            "series": series,
            "dose_number": dose_number,
            "site": "left_deltoid",
            "provider_id": provider,
        },
    )

    # The parent downloads the certificate; its QR opens the verify page, which says valid.
    phone.goto("/portal/vaccination")
    with phone.page.expect_navigation():
        phone.page.locator(
            f"section.member[data-person='{child['id']}'] a.certificate-link"
        ).click()
    # The dose just given is on the certificate, dated today in the city.
    given = phone.page.locator(
        f"li.certified-dose[data-series='{series}'][data-dose='{dose_number}']"
    )
    assert given.count() == 1
    with phone.page.expect_download() as waiting:
        phone.page.click("#download-qr")
    saved = tmp_path / "certificate.png"
    waiting.value.save_as(saved)
    url = _qr_text(saved)
    assert url.startswith(live_server.url + "/verify")
    phone.page.goto(url)
    assert phone.page.get_attribute("#verdict", "data-valid") == "true"
    assert series in phone.page.inner_text("#verdict")
    _snap(phone, "certificate-verified")
    assert phone.errors == []
