"""A clinician opens a migrant worker with hypertension and sees why, what and where (Chromium)."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pytest

from tests.e2e.conftest import PASSWORD, LiveServer, Tab

pytestmark = pytest.mark.browser
WORKERS = {"construction", "manufacturing", "delivery", "ride_hailing", "food_service", "domestic"}


def _api(server: LiveServer, path: str, token: str) -> dict:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _migrant_worker_with_hypertension(server: LiveServer) -> str:
    """A person of the doctor's district whose chronic-continuity need rests on being a migrant."""
    form = urllib.parse.urlencode({"username": "doctor", "password": PASSWORD}).encode()
    with urllib.request.urlopen(server.url + "/api/v1/auth/token", data=form, timeout=30) as r:
        token = json.loads(r.read())["access_token"]
    demands = _api(
        server,
        "/api/v1/demands?tag=chronic_continuity&service=chronic_followup&status=open&limit=200",
        token,
    )
    for item in demands["items"]:
        profile = _api(server, f"/api/v1/persons/{item['person_id']}/profile", token)
        features = profile["features"]
        if features["hukou"] == "migrant" and features["occupation"] in WORKERS:
            assert "hypertension" in features["conditions"] or "diabetes" in features["conditions"]
            if "hypertension" in features["conditions"]:
                return item["person_id"]
    pytest.fail("the generated city has no migrant worker with hypertension in district 449901")


def test_person_page_shows_need_reason_ranked_providers_and_map(tab: Tab, live_server: LiveServer):
    person = _migrant_worker_with_hypertension(live_server)
    tab.sign_in("doctor")
    tab.goto(f"/workbench/persons/{person}")

    need = tab.page.locator("#needs li[data-tag='chronic_continuity']")
    assert need.count() == 1
    reason = need.locator(".because").inner_text()
    assert "高血压" in reason and "流动人口" in reason, reason

    service = tab.page.locator("#recommendations .service-recs[data-service='chronic_followup']")
    choices = service.locator(".choice")
    assert choices.count() >= 1
    lines = choices.locator(".reason").all_inner_texts()
    # Each reason leads with the distance and names the slot: "800 m · 今天14:00有号 · …".
    assert all((" m ·" in line or " km ·" in line) and "有号" in line for line in lines), lines
    distances = [
        float(line.split(" ")[0]) / (1000 if line.split(" ")[1] == "m" else 1) for line in lines
    ]
    assert min(distances) < 50

    tab.page.wait_for_selector("#needs-map[data-drawn]")
    painted = tab.page.evaluate(
        """() => {
          const c = document.querySelector('#needs-map canvas');
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let on = 0, n = 0;
          for (let i = 0; i < d.length; i += 4 * 11) { n++; if (d[i + 3] > 0) on++; }
          return on / n;
        }"""
    )
    assert painted > 0.01, painted
    assert tab.errors == []
