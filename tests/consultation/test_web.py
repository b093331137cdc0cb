"""The workbench pages: the specialist's queue with the clock, a request's page with its files
and the answer form (CSRF-protected), the clinic's requests with turnaround, and the new
request form with an upload."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from carematch.security.authz import TOKEN_COOKIE
from carematch.web.workbench.csrf import FIELD
from tests.consultation.conftest import CLINIC, ECG_CSV, ask, bearer

BASE = "/workbench/consultations"


def sign_in(api, username: str) -> None:
    api.cookies.set(TOKEN_COOKIE, bearer(username)["Authorization"].split()[1])


def csrf(html: str) -> str:
    found = re.search(rf'name="{FIELD}" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


def test_the_queue_flags_a_breached_request_and_shows_time_left_on_a_fresh_one(api, world):
    old = ask(world, now=datetime.now(UTC) - timedelta(minutes=45))
    fresh = ask(world, files=[("ecg.csv", ECG_CSV)])
    sign_in(api, "specialist")
    page = api.get(BASE)
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    html = page.text
    assert "远程会诊" in html  # Chinese first
    queue = html.split('id="queue"')[1].split('id="requests"')[0]
    assert queue.index(old) < queue.index(fresh)  # the longest waiting on top
    assert re.search(rf'data-consultation="{old}"[^>]*data-breached="true"', queue)
    assert re.search(rf'data-consultation="{fresh}"[^>]*data-breached="false"', queue)
    old_item = queue.split(f'data-consultation="{old}"')[1].split("</li>")[0]
    fresh_item = queue.split(f'data-consultation="{fresh}"')[1].split("</li>")[0]
    assert re.search(r"已超时 1[45] 分钟", old_item), old_item
    assert re.search(r"剩余 (29|30) 分钟", fresh_item), fresh_item
    # Another district's doctor sees neither; a resident is refused the page.
    sign_in(api, "doctor_d2")
    assert old not in api.get(BASE).text
    assert api.get(f"{BASE}/{old}").status_code == 404
    sign_in(api, "resident_ht")
    assert api.get(BASE).status_code == 403


def test_the_specialist_answers_in_the_workbench_and_the_clinic_sees_the_turnaround(api, world):
    cid = ask(world, files=[("ecg.csv", ECG_CSV)])
    sign_in(api, "specialist")
    detail = api.get(f"{BASE}/{cid}").text
    assert f"/api/v1/consultations/{cid}/attachments/" in detail
    assert 'id="accept"' in detail and 'id="answer-form"' not in detail
    forged = api.post(f"{BASE}/{cid}/accept", data={FIELD: "0" * 64}, follow_redirects=False)
    assert forged.status_code == 403
    token = csrf(detail)
    taken = api.post(f"{BASE}/{cid}/accept", data={FIELD: token}, follow_redirects=False)
    assert taken.status_code == 303 and taken.headers["location"] == f"{BASE}/{cid}"
    form = api.get(f"{BASE}/{cid}").text
    assert 'id="answer-form"' in form
    empty = api.post(f"{BASE}/{cid}/answer", data={FIELD: token, "findings": " "})
    assert empty.status_code == 400 and 'id="form-error"' in empty.text
    sent = api.post(
        f"{BASE}/{cid}/answer",
        data={FIELD: token, "findings": "窦性心律，ST段未见异常", "advice": "继续观察"},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    sign_in(api, "clinic_doc")
    mine = api.get(BASE).text.split('id="requests"')[1]
    assert re.search(rf'data-consultation="{cid}" data-status="answered"', mine)
    assert re.search(r"[01] 分钟内答复", mine)
    page = api.get(f"{BASE}/{cid}").text
    assert "窦性心律，ST段未见异常" in page and 'id="refer-form"' in page


def test_a_clinic_sends_a_request_with_a_file_from_the_form(api, world):
    sign_in(api, "clinic_doc")
    form = api.get(f"{BASE}/new", params={"person_id": world.ht})
    assert form.status_code == 200 and f'value="{CLINIC}"' in form.text
    token = csrf(form.text)
    data = {
        FIELD: token,
        "person_id": world.ht,
        "from_provider_id": CLINIC,
        "specialty": "cardiology",
        "urgency": "urgent",
        "question": "胸痛半小时",
    }
    wrong = api.post(
        f"{BASE}/new",
        data=data,
        files=[("files", ("ecg.pdf", b"MZ" + bytes(99), "application/pdf"))],
    )
    assert wrong.status_code == 422 and 'id="form-error"' in wrong.text
    assert "胸痛半小时" in wrong.text  # the form keeps what was typed
    sent = api.post(
        f"{BASE}/new",
        data=data,
        files=[("files", ("ecg.csv", ECG_CSV, "text/csv"))],
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = api.get(sent.headers["location"]).text
    assert 'id="sent-notice"' in page and "ecg.csv" in page
