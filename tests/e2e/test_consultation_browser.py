"""A village clinic's doctor sends a remote consultation with an ECG export; the county
hospital's specialist finds it in the queue on a phone, downloads the file, takes it and answers;
the clinic sees the answer and its turnaround (Chromium, against the live server).

The two doctors are created for this test with the CLI, bound to different streets: the clinic's
and the county hospital's, so each sees only their own end.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, LiveServer, Tab, _cli

pytestmark = pytest.mark.browser
DISTRICT = "449901"
REQUESTING_KINDS = ("village_clinic", "township_hospital", "community_health_centre")
ECG = b"time_ms,I,II,III\n0,0.12,0.30,0.18\n2,0.15,0.31,0.16\n4,0.11,0.29,0.18\n"


def _get(server: LiveServer, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(server.url + path, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _token(server: LiveServer, username: str) -> str:
    form = urllib.parse.urlencode({"username": username, "password": PASSWORD}).encode()
    with urllib.request.urlopen(server.url + "/api/v1/auth/token", data=form, timeout=30) as r:
        return str(json.loads(r.read())["access_token"])


def _doctor(server: LiveServer, region: str) -> str:
    name = f"doc_{region}_{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "CAREMATCH_DATA_DIR": str(server.data_dir), "CAREMATCH_ENV": "test"}
    env.pop("CAREMATCH_DATABASE_URL", None)
    _cli(
        env,
        "users",
        "create",
        name,
        "--role",
        "doctor",
        "--region",
        region,
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    return name


def _case(server: LiveServer) -> tuple[str, str, str]:
    """A primary-care provider of the district on another street than the county hospital,
    with a resident on its street: (clinic id, clinic street, person id), and the hospital's
    street."""
    hospitals = _get(server, f"/api/v1/providers?kind=tertiary_hospital&region={DISTRICT}")
    hospital_street = hospitals["items"][0]["region_code"][:9]
    people = _get(server, "/api/v1/persons?limit=500", _token(server, "doctor"))["items"]
    for kind in REQUESTING_KINDS:
        clinics = _get(server, f"/api/v1/providers?kind={kind}&region={DISTRICT}&limit=200")
        for clinic in clinics["items"]:
            street = clinic["region_code"][:9]
            residents = [p["id"] for p in people if (p["community_code"] or "").startswith(street)]
            if street != hospital_street and residents:
                return clinic["id"], street, residents[0]
    raise AssertionError("the generated city has no clinic with residents in district 1")


def test_a_clinic_uploads_an_ecg_and_the_county_specialist_answers_in_the_workbench(
    live_server: LiveServer, tab: Tab, phone: Tab
):
    clinic_id, clinic_street, person_id = _case(live_server)
    hospitals = _get(live_server, f"/api/v1/providers?kind=tertiary_hospital&region={DISTRICT}")
    clinic_doctor = _doctor(live_server, clinic_street)
    specialist = _doctor(live_server, hospitals["items"][0]["region_code"][:9])

    # The clinic's doctor fills the request form and attaches the ECG export.
    tab.sign_in(clinic_doctor)
    tab.goto(f"/workbench/consultations/new?person_id={person_id}")
    tab.page.select_option("#from_provider_id", clinic_id)
    tab.page.select_option("#specialty", "cardiology")
    tab.page.select_option("#urgency", "urgent")
    tab.page.fill("#question", "胸闷两天，心电图ST段改变？")
    tab.page.set_input_files(
        "#files", files=[{"name": "心电图.csv", "mimeType": "text/csv", "buffer": ECG}]
    )
    with tab.page.expect_navigation():
        tab.page.click("#send-consultation")
    assert tab.page.locator("#sent-notice").is_visible()
    consultation = tab.page.url.split("/workbench/consultations/")[1].split("?")[0]
    assert tab.page.locator("#attachments").inner_text().startswith("心电图.csv")

    # The specialist finds it at the top of the queue with the clock running, on a phone.
    phone.sign_in(specialist)
    phone.goto("/workbench/consultations")
    row = phone.page.locator(f"li.queued[data-consultation='{consultation}']")
    assert row.get_attribute("data-breached") == "false"
    assert "剩余" in row.locator(".clock").inner_text()
    assert phone.horizontal_overflow() == 0
    with phone.page.expect_navigation():
        row.locator("a").first.click()
    with phone.page.expect_download() as download:
        phone.page.click("#attachments a")
    with open(download.value.path(), "rb") as handle:
        assert handle.read() == ECG  # decrypted, checked and identical
    with phone.page.expect_navigation():
        phone.page.click("#accept")
    phone.page.fill("#findings-input", "Ⅱ、Ⅲ、aVF导联ST段压低0.1mV")
    phone.page.fill("#advice-input", "建议转县医院心内科进一步检查")
    with phone.page.expect_navigation():
        phone.page.click("#send-answer")
    assert phone.page.locator("#summary").get_attribute("data-status") == "answered"
    assert "ST段压低" in phone.page.locator("#findings").inner_text()
    assert phone.horizontal_overflow() == 0

    # Back at the clinic: the request is answered, with its turnaround.
    tab.goto("/workbench/consultations")
    sent = tab.page.locator(f"li.sent[data-consultation='{consultation}']")
    assert sent.get_attribute("data-status") == "answered"
    assert "分钟内答复" in sent.locator(".turnaround").inner_text()
    assert tab.errors == [] and phone.errors == []
