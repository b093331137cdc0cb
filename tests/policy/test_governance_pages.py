"""The cockpit's policy pages and the public hearing page through the app (SQLite): the
version editor with the library's messages inline, old versions kept; hearings opened,
answered and published; proposals and the sandbox with its downloads; guards and CSRF."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from carematch.core.clock import city_today
from carematch.core.db import session_scope
from carematch.policy import service
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD
from tests.policy.governance_world import D1, build

SOON = (city_today() + timedelta(days=20)).isoformat()


def _login(client, username):
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def _edit_form(page: str) -> dict:
    """The editor's fields as the browser would post them."""
    data: dict = {"csrf_token": _csrf(page)}
    for name in ("title", "title_en", "department", "rate", "amount", "cap", "quantity", "note"):
        found = re.search(rf'name="{name}" value="([^"]*)"', page)
        data[name] = html.unescape(found.group(1)) if found else ""
    for name in ("eligibility", "clauses"):
        data[name] = html.unescape(re.search(rf'name="{name}"[^>]*>([^<]*)<', page).group(1))
    data["kind"] = re.search(r'<option value="(\w+)" selected', page).group(1)
    data["services"] = re.findall(r'name="services" value="(\w+)" checked', page)
    data["demand_types"] = re.findall(r'name="demand_types" value="(\w+)" checked', page)
    return data


def test_the_editor_stores_versions_and_shows_the_librarys_messages(sqlite_client, tmp_path):
    client = sqlite_client
    build(tmp_path)
    assert client.get("/cockpit/policies", follow_redirects=False).status_code == 303
    _login(client, "official_d1")

    listing = client.get("/cockpit/policies")
    page = client.get("/cockpit/policies/P-ELDER-FLU/edit")
    assert listing.status_code == 200 and 'data-policy="P-ELDER-FLU"' in listing.text
    assert page.status_code == 200 and "age &gt;= 60" in page.text
    form = _edit_form(page.text)
    assert form["services"] == ["vaccination_adult", "home_vaccination"]

    bad = client.post(
        "/cockpit/policies/P-ELDER-FLU/edit",
        data={**form, "eligibility": "agee >= 55", "rate": "1.5", "effective_from": "2026-07-01"},
    )
    assert bad.status_code == 400
    assert re.search(
        r'data-field="eligibility">[^<]*policy P-ELDER-FLU, field eligibility: [^<]*agee', bad.text
    )
    assert 'data-field="benefit.rate"' in bad.text
    assert "agee &gt;= 55" in bad.text  # what was typed stays in the form

    no_csrf = client.post("/cockpit/policies/P-ELDER-FLU/edit", data={**form, "csrf_token": "x"})
    first = client.post(
        "/cockpit/policies/P-ELDER-FLU/edit",
        data={**form, "eligibility": "age >= 55", "effective_from": "2026-07-01", "note": "扩大"},
        follow_redirects=False,
    )
    second = client.post(
        "/cockpit/policies/P-ELDER-FLU/edit",
        data={**form, "eligibility": "age >= 50", "effective_from": "2026-09-01"},
        follow_redirects=False,
    )
    clash = client.post(
        "/cockpit/policies/P-ELDER-FLU/edit",
        data={**form, "effective_from": "2026-08-01"},
    )
    assert no_csrf.status_code == 403
    assert first.status_code == 303 and first.headers["location"].endswith("saved=1")
    assert second.status_code == 303
    assert clash.status_code == 400 and 'data-field="effective_from"' in clash.text
    shown = client.get("/cockpit/policies/P-ELDER-FLU/edit?saved=2").text
    assert 'id="saved-notice"' in shown
    assert shown.count('<tr data-version="') == 2
    with session_scope() as session:
        rows = service.versions(session, "P-ELDER-FLU")
    assert [(r.version, str(r.effective_to)) for r in rows] == [(1, "2026-09-01"), (2, "None")]
    assert client.get("/cockpit/policies/P-NOPE/edit").status_code == 404


def test_hearing_pages_from_opening_to_the_public_result(sqlite_client, tmp_path):
    client = sqlite_client
    world = build(tmp_path)
    with session_scope() as session:
        create_user(session, "me_a", "resident", PASSWORD, person_id=world.a)
    _login(client, "official_d1")
    new = client.get("/cockpit/hearings/new?from=P-ELDER-FLU")
    assert "P-ELDER-FLU" in new.text
    token = _csrf(new.text)
    draft = (
        'id: P-DRAFT\ntitle: 草案\ndepartment: 卫健委\neligibility: "age >= 55"\n'
        "benefit: {kind: free_service}\nservices: [vaccination_adult]\n"
    )
    bad = client.post(
        "/cockpit/hearings/new",
        data={
            "csrf_token": token,
            "draft": draft.replace("age", "agee"),
            "closes_on": SOON,
            "region": D1,
        },
    )
    opened = client.post(
        "/cockpit/hearings/new",
        data={
            "csrf_token": token,
            "draft": draft,
            "closes_on": SOON,
            "region": D1,
            "summary": "降低年龄",
        },
        follow_redirects=False,
    )
    assert bad.status_code == 400 and "policy P-DRAFT, field eligibility" in bad.text
    assert opened.status_code == 303
    staff_url = opened.headers["location"]
    hearing_id = staff_url.rsplit("/", 1)[1]

    client.cookies.clear()
    public = client.get(f"/hearings/{hearing_id}")
    assert public.status_code == 200 and 'id="sign-in-to-give"' in public.text
    _login(client, "me_a")
    page = client.get(f"/hearings/{hearing_id}")
    empty = client.post(
        f"/hearings/{hearing_id}/opinion", data={"csrf_token": _csrf(page.text), "text": "  "}
    )
    given = client.post(
        f"/hearings/{hearing_id}/opinion",
        data={"csrf_token": _csrf(page.text), "text": "赞成，我父亲56岁"},
        follow_redirects=False,
    )
    assert empty.status_code == 400 and 'id="opinion-error"' in empty.text
    assert given.status_code == 303
    assert 'id="my-opinion"' in client.get(given.headers["location"]).text

    client.cookies.clear()
    _login(client, "official_d1")
    staff = client.get(staff_url)
    opinion_id = re.search(r'data-opinion="(\w+)"', staff.text).group(1)
    token = _csrf(staff.text)
    refused = client.post(
        f"{staff_url}/opinions/{opinion_id}",
        data={"csrf_token": token, "decision": "not_adopted", "reason": ""},
    )
    early_close = client.post(f"{staff_url}/close", data={"csrf_token": token})
    assert refused.status_code == 400 and 'id="decision-error"' in refused.text
    assert early_close.status_code == 409 and 'id="close-error"' in early_close.text
    client.post(
        f"{staff_url}/opinions/{opinion_id}",
        data={
            "csrf_token": token,
            "decision": "not_adopted",
            "reason": "疫苗数量有限，先保障60岁以上",
        },
    )
    closed = client.post(f"{staff_url}/close", data={"csrf_token": token}, follow_redirects=False)
    assert closed.status_code == 303 and closed.headers["location"] == f"/hearings/{hearing_id}"

    client.cookies.clear()
    result = client.get(f"/hearings/{hearing_id}")
    assert 'data-adopted="0" data-not-adopted="1"' in result.text
    assert "疫苗数量有限，先保障60岁以上" in result.text and "赞成，我父亲56岁" in result.text
    assert "me_a" not in result.text
    assert hearing_id in client.get("/hearings").text


def test_proposals_and_the_sandbox_pages(sqlite_client, tmp_path):
    client = sqlite_client
    build(tmp_path)
    from carematch.profiling.service import build_profiles
    from tests.policy.governance_world import AS_OF

    with session_scope() as session:
        build_profiles(session, AS_OF)
    _login(client, "official_d1")
    proposals = client.get("/cockpit/proposals")
    outside = client.get("/cockpit/proposals?region=449902")
    assert proposals.status_code == 200 and 'id="proposals-table"' in proposals.text
    assert "449902001001" not in proposals.text
    assert 'role="alert"' in outside.text

    form = client.get("/cockpit/sandbox?from=P-ELDER-FLU")
    token = _csrf(form.text)
    draft = html.unescape(re.search(r'name="draft"[^>]*>([^<]*)<', form.text).group(1))
    ran = client.post("/cockpit/sandbox", data={"csrf_token": token, "draft": draft, "region": D1})
    markdown = client.post(
        "/cockpit/sandbox",
        data={"csrf_token": token, "draft": draft, "region": D1, "download": "markdown"},
    )
    garbage = client.post(
        "/cockpit/sandbox", data={"csrf_token": token, "draft": "- [", "region": D1}
    )
    assert ran.status_code == 200, ran.text
    # All three district-1 men are 60 or over; P-ELDER-FLU itself is in force: a replacement.
    assert 'id="stat-eligible" data-count="3"' in ran.text and 'id="replaces"' in ran.text
    assert markdown.headers["content-disposition"].startswith("attachment;")
    assert "| eligible under the draft | 3 |" in markdown.text
    assert garbage.status_code == 400


def test_the_execution_page_and_its_budget_form(sqlite_client, tmp_path):
    client = sqlite_client
    world = build(tmp_path)
    from tests.policy.governance_world import add_record, at

    add_record(world.d, "elderly_checkup", at("2026-06-10"))
    _login(client, "official_d1")
    page = client.get("/cockpit/policy-execution?start=2026-06-01&end=2026-06-30")
    assert page.status_code == 200 and 'data-policy="P-ELDER-CHECKUP"' in page.text
    saved = client.post(
        "/cockpit/policy-execution/budget",
        data={
            "csrf_token": _csrf(page.text),
            "policy_id": "P-ELDER-CHECKUP",
            "year": "2026",
            "amount": "600",
            "start": "2026-06-01",
            "end": "2026-06-30",
        },
        follow_redirects=False,
    )
    refused = client.post(
        "/cockpit/policy-execution/budget",
        data={
            "csrf_token": _csrf(page.text),
            "policy_id": "P-ELDER-CHECKUP",
            "year": "2026",
            "amount": "-5",
        },
    )
    bad_period = client.get("/cockpit/policy-execution?start=2026-06-30&end=2026-06-01")
    assert saved.status_code == 303
    assert refused.status_code == 400 and 'id="execution-error"' in refused.text
    assert 'id="execution-error"' in bad_period.text
    shown = client.get(saved.headers["location"]).text
    row = shown.split('data-policy="P-ELDER-CHECKUP"')[1].split("</tr>")[0]
    # D (76, local) had his check-up: one of the district's eligible, 150 yuan of 600 = 25 %.
    assert 'value="600"' in row and "25.0%" in row
    assert 'id="budget-saved"' in shown
