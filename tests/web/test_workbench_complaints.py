"""The workbench's complaint, ledger and flag pages (SQLite; the queries behind them run on both
databases in tests/feedback/test_service_workbench.py): roles and jurisdiction as in the API,
CSRF on every form, and a form with bad input answered with a readable error, never a 500."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from carematch.core.config import get_settings
from carematch.core.db import dispose_engines, session_scope
from carematch.feedback import service
from carematch.feedback.flags import LowRatingRule, PeriodMean
from carematch.feedback.models import Complaint, RectificationItem
from carematch.security.authz import TOKEN_COOKIE
from tests.feedback.conftest import (  # noqa: F401 (pinned is a fixture)
    NOW,
    PinnedClock,
    World,
    bearer,
    build_world,
    pinned,
    principal,
)
from tests.fixtures.env import installation

DEADLINE = date(2026, 3, 20)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, World]:
    """The two-district world of the feedback tests, built once: migrating and hashing seven
    passwords takes seconds, copying the finished data directory milliseconds."""
    root = tmp_path_factory.mktemp("workbench-feedback")
    with pytest.MonkeyPatch.context() as patch, installation(root, "sqlite", patch):
        world = build_world(root)
    return root / "data", world


@pytest.fixture
def web(
    template: tuple[Path, World],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    pinned: PinnedClock,  # noqa: F811
) -> Iterator[tuple[TestClient, World]]:
    """A copy of the world (its own data directory and SQLite file) behind the web app, the
    feedback clock pinned at NOW."""
    from carematch.api.app import create_app

    source, world = template
    shutil.copytree(source, tmp_path / "data")
    monkeypatch.setenv("CAREMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CAREMATCH_ENV", "test")
    monkeypatch.delenv("CAREMATCH_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    dispose_engines()
    try:
        with TestClient(create_app()) as client:
            yield client, world
    finally:
        dispose_engines()
        get_settings.cache_clear()


def as_user(client: TestClient, username: str) -> TestClient:
    """Sign the client in as ``username`` (a session cookie, as after the login form)."""
    client.cookies.set(TOKEN_COOKIE, bearer(username)["Authorization"].split()[1])
    return client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def file_complaint(username: str, **fields) -> str:
    """A complaint filed through the service, as the API would; returns its id."""
    fields.setdefault("channel", None)
    fields.setdefault("category", "service_attitude")
    fields.setdefault("text", "护士态度恶劣，拒绝解释收费项目。")
    with session_scope() as session:
        return service.file_complaint(session, principal(username), **fields).complaint.id


def move(complaint_id: str, to: str, note: str | None = None) -> None:
    with session_scope() as session:
        service.transition_complaint(session, principal("official_d1"), complaint_id, to, note)


def status_of(complaint_id: str) -> str:
    with session_scope() as session:
        row = session.get(Complaint, complaint_id)
        assert row is not None
        return row.status


def items_of(complaint_id: str) -> list[RectificationItem]:
    with session_scope() as session:
        _, views = service.list_items(
            session, principal("admin1"), limit=10, offset=0, complaint_id=complaint_id
        )
        session.expunge_all()
        return [v.item for v in views]


def listed(html: str) -> list[str]:
    """The complaint ids a list page shows, in order."""
    return re.findall(r'<li class="complaint[^"]*" data-complaint="([0-9a-f]{32})"', html)


# --- the list ----------------------------------------------------------------------------------


def test_the_list_puts_the_nearest_deadline_first_and_says_how_late(web, pinned):  # noqa: F811
    client, world = web
    ordinary = file_complaint("resident1", provider_id=world.provider_d1)
    urgent = file_complaint("resident1", provider_id=world.provider_d1, category="medical_safety")
    hotline = file_complaint(
        "grid_d1", channel="hotline_12345", provider_id=world.provider_d1, contact="13912345678"
    )
    refused = file_complaint("resident1", provider_id=world.provider_d1)
    move(refused, "rejected", "不属于受理范围")
    elsewhere = file_complaint("resident2", provider_id=world.provider_d2)
    # The urgent one (24 hours) is late by 1 day 3 hours; the others are due on 9 March.
    pinned.at = NOW + timedelta(days=2, hours=3)
    as_user(client, "official_d1")

    page = client.get("/workbench/complaints?lang=en")

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert listed(page.text)[0] == urgent
    assert set(listed(page.text)) == {urgent, ordinary, hotline}
    assert f'data-complaint="{urgent}" data-status="received" data-overdue="true"' in page.text
    assert "Overdue by 1 d 3 h" in page.text
    assert page.text.count("Overdue by") == 1
    assert refused in listed(client.get("/workbench/complaints?status=all").text)
    assert listed(client.get("/workbench/complaints?status=overdue").text) == [urgent]
    assert listed(client.get("/workbench/complaints?channel=hotline_12345").text) == [hotline]
    assert listed(client.get("/workbench/complaints?category=medical_safety").text) == [urgent]
    assert elsewhere not in client.get("/workbench/complaints?status=all").text


def test_the_list_pages_through_many_complaints(web):
    client, world = web
    ids = [file_complaint("resident1", provider_id=world.provider_d1) for _ in range(23)]
    as_user(client, "official_d1")

    first = client.get("/workbench/complaints")
    second = client.get("/workbench/complaints?offset=20&channel=web")

    assert len(listed(first.text)) == 20
    assert 'href="/workbench/complaints?offset=20"' in first.text
    assert len(listed(second.text)) == 3
    assert 'id="next-page"' not in second.text
    assert 'href="/workbench/complaints?channel=web"' in second.text  # back, keeping the filter
    assert set(listed(first.text)) | set(listed(second.text)) == set(ids)


def test_a_filter_that_means_nothing_is_a_readable_error(web):
    client, _ = web
    as_user(client, "official_d1")

    for query in ("status=bogus", "category=no_such", "channel=fax", "status=%00"):
        page = client.get(f"/workbench/complaints?{query}")
        assert page.status_code == 400, query
        assert 'id="form-error"' in page.text
    # A negative page is malformed (FastAPI's 422), not a server error.
    assert client.get("/workbench/complaints?offset=-1").status_code == 422


# --- who may see what --------------------------------------------------------------------------


def test_signed_out_users_go_to_the_login_and_residents_are_refused(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)

    signed_out = client.get("/workbench/complaints", follow_redirects=False)
    assert signed_out.status_code == 303
    assert signed_out.headers["location"].startswith("/login?next=/workbench/complaints")

    as_user(client, "resident1")
    for path in (
        "/workbench/complaints",
        f"/workbench/complaints/{cid}",
        "/workbench/complaints/new",
        "/workbench/rectification",
        "/workbench/provider-flags",
    ):
        assert client.get(path).status_code == 403, path


def test_roles_open_only_the_pages_the_api_allows_them(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)

    as_user(client, "doctor_d1")
    assert client.get("/workbench/complaints").status_code == 403
    assert client.get(f"/workbench/complaints/{cid}").status_code == 403
    assert client.get("/workbench/provider-flags").status_code == 403
    assert client.get("/workbench/rectification").status_code == 200
    assert client.get("/workbench/complaints/new").status_code == 200

    as_user(client, "grid_d1")
    assert client.get("/workbench/rectification").status_code == 403
    assert client.get("/workbench/complaints/new").status_code == 200


def test_an_official_of_another_district_does_not_find_the_complaint(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)
    move(cid, "accepted")
    as_user(client, "official_d2")

    page = client.get(f"/workbench/complaints/{cid}", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "护士态度恶劣" not in page.text
    assert cid not in client.get("/workbench/complaints?status=all").text
    token = csrf(client.get("/workbench/complaints/new").text)
    moved = client.post(
        f"/workbench/complaints/{cid}/transition",
        data={"csrf_token": token, "to": "investigating"},
    )
    assert moved.status_code == 404
    assert status_of(cid) == "accepted"
    # Nor its ledger item.
    as_user(client, "official_d1")
    client.post(
        f"/workbench/complaints/{cid}/finding",
        data={
            "csrf_token": csrf(client.get(f"/workbench/complaints/{cid}").text),
            "text": "属实",
            "measure": "整改",
            "deadline": DEADLINE.isoformat(),
            "owner_kind": "provider",
        },
    )
    (item,) = items_of(cid)
    as_user(client, "official_d2")
    assert client.get(f"/workbench/rectification/{item.id}").status_code == 404


# --- handling a complaint ----------------------------------------------------------------------


def test_forms_need_the_sessions_csrf_token(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)
    as_user(client, "official_d1")

    for path, data in (
        (f"/workbench/complaints/{cid}/transition", {"to": "accepted"}),
        (f"/workbench/complaints/{cid}/finding", {"text": "x"}),
        ("/workbench/complaints/new", {"channel": "letter"}),
    ):
        assert client.post(path, data=data).status_code == 403
        assert client.post(path, data={**data, "csrf_token": "0" * 64}).status_code == 403
    assert status_of(cid) == "received"


def test_an_official_handles_a_complaint_from_receipt_to_closure(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)
    as_user(client, "official_d1")
    page = client.get(f"/workbench/complaints/{cid}")
    assert page.status_code == 200 and "护士态度恶劣" in page.text
    token = csrf(page.text)

    def act(to: str, note: str = ""):
        return client.post(
            f"/workbench/complaints/{cid}/transition",
            data={"csrf_token": token, "to": to, "note": note},
            follow_redirects=False,
        )

    assert act("accepted").status_code == 303
    assert act("investigating", "由医政科张科长负责调查").status_code == 303
    # A reply needs its words: the page says so and keeps the form open.
    empty = act("answered", "   ")
    assert empty.status_code == 409
    assert 'id="form-error"' in empty.text and status_of(cid) == "investigating"
    assert act("answered", "已约谈当事护士，并向您致歉。").status_code == 303
    assert act("closed", "投诉人表示满意").status_code == 303
    assert status_of(cid) == "closed"

    done = client.get(f"/workbench/complaints/{cid}?lang=en")
    assert "已约谈当事护士" in done.text and "由医政科张科长负责调查" in done.text
    assert re.findall(r'data-to="(\w+)"', done.text) == [
        "received",
        "accepted",
        "investigating",
        "answered",
        "closed",
    ]
    # A closed complaint offers no more moves, and one forced through is refused, not a 500.
    assert 'action="/workbench/complaints/' + cid + '/transition"' not in done.text
    late = act("investigating")
    assert late.status_code == 409 and 'id="form-error"' in late.text
    unknown = act("teleported")
    assert unknown.status_code == 400 and 'id="form-error"' in unknown.text


def test_a_finding_opens_a_rectification_item_and_bad_input_is_explained(web):
    client, world = web
    cid = file_complaint("resident1", provider_id=world.provider_d1)
    as_user(client, "official_d1")
    token = csrf(client.get(f"/workbench/complaints/{cid}").text)

    def find(**fields):
        data = {
            "csrf_token": token,
            "text": "经核查投诉属实。",
            "measure": "公示全部收费项目",
            "deadline": DEADLINE.isoformat(),
            "owner_kind": "provider",
            **fields,
        }
        return client.post(
            f"/workbench/complaints/{cid}/finding", data=data, follow_redirects=False
        )

    # A received complaint has no finding: accept it first.
    assert 'id="finding-form"' not in client.get(f"/workbench/complaints/{cid}").text
    assert find().status_code == 409
    move(cid, "accepted")
    for fields, status in (
        ({"deadline": "next week"}, 400),
        ({"deadline": ""}, 400),
        ({"deadline": "2026-02-01"}, 400),  # already passed
        ({"measure": "  "}, 400),
        ({"owner_kind": "department", "department": ""}, 400),
        ({"owner_kind": "nobody"}, 400),
        ({"measure": "bad\x00byte"}, 400),
    ):
        refused = find(**fields)
        assert refused.status_code == status, (fields, refused.text[:300])
        assert 'id="form-error"' in refused.text
        assert 'id="finding" open' in refused.text  # the form stays open with what was typed
    assert items_of(cid) == []

    assert find().status_code == 303
    assert find(owner_kind="department", department="区卫健局医政科").status_code == 303

    items = items_of(cid)
    assert sorted(i.owner_name for i in items) == ["区卫健局医政科", "幸福社区卫生服务中心"]
    assert {i.deadline for i in items} == {DEADLINE}
    page = client.get(f"/workbench/complaints/{cid}")
    for item in items:
        assert f'data-item="{item.id}"' in page.text


def test_staff_register_a_phone_complaint_for_another_district(web):
    client, world = web
    as_user(client, "grid_d1")
    form = client.get("/workbench/complaints/new")
    token = csrf(form.text)
    fields = {
        "csrf_token": token,
        "channel": "hotline_12345",
        "category": "service_attitude",
        "provider_id": world.provider_d2,
        "text": "电话投诉：候诊两小时无人理会。",
        "received_at": "2026-03-01T20:00",
    }

    anonymous = client.post("/workbench/complaints/new", data=fields)
    assert anonymous.status_code == 400
    assert 'id="form-error"' in anonymous.text
    assert "候诊两小时无人理会" in anonymous.text  # what was typed is kept

    future = client.post(
        "/workbench/complaints/new",
        data={**fields, "contact": "13912345678", "received_at": "2026-03-09T08:00"},
    )
    assert future.status_code == 400 and 'id="form-error"' in future.text
    nobody = client.post(
        "/workbench/complaints/new",
        data={**fields, "contact": "1", "person_id": "no-such-person"},
    )
    assert nobody.status_code == 404 and 'id="form-error"' in nobody.text

    done = client.post(
        "/workbench/complaints/new",
        data={**fields, "contact": "13912345678"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"].startswith("/workbench/complaints/new?registered=")
    cid = done.headers["location"].rsplit("=", 1)[1]
    assert f'data-complaint="{cid}"' in client.get(done.headers["location"]).text
    # District 2 handles it; the registrar's own district does not see it.
    as_user(client, "official_d2")
    assert cid in listed(client.get("/workbench/complaints").text)
    detail = client.get(f"/workbench/complaints/{cid}")
    assert "13912345678" in detail.text and "候诊两小时无人理会" in detail.text
    as_user(client, "official_d1")
    assert client.get(f"/workbench/complaints/{cid}").status_code == 404


def test_an_official_who_registers_a_complaint_goes_on_to_handle_it(web):
    client, world = web
    as_user(client, "official_d1")
    token = csrf(client.get("/workbench/complaints/new").text)

    done = client.post(
        "/workbench/complaints/new",
        data={
            "csrf_token": token,
            "channel": "in_person",
            "category": "fees",
            "provider_id": world.provider_d1,
            "person_id": world.person_d1,
            "text": "窗口多收了挂号费。",
        },
        follow_redirects=False,
    )

    assert done.status_code == 303
    assert re.fullmatch(
        r"/workbench/complaints/[0-9a-f]{32}\?done=registered", done.headers["location"]
    )
    page = client.get(done.headers["location"])
    assert 'id="done-notice"' in page.text and "窗口多收了挂号费" in page.text


# --- the ledger --------------------------------------------------------------------------------


def _item(world: World, deadline: date = DEADLINE) -> tuple[str, str]:
    cid = file_complaint("resident1", provider_id=world.provider_d1)
    move(cid, "accepted")
    with session_scope() as session:
        _, views = service.open_finding(
            session,
            principal("official_d1"),
            source="complaint",
            complaint_id=cid,
            text="属实",
            items=[service.ItemDraft(measure="公示收费项目", deadline=deadline)],
        )
        return cid, views[0].item.id


def item_status(item_id: str) -> tuple[str, str | None, str | None]:
    with session_scope() as session:
        item = session.get(RectificationItem, item_id)
        assert item is not None
        return item.status, item.evidence_text, item.evidence_file


def test_a_doctor_reports_evidence_and_an_official_verifies_the_closure(web, pinned):  # noqa: F811
    client, world = web
    _, item_id = _item(world)
    as_user(client, "doctor_d1")
    page = client.get(f"/workbench/rectification/{item_id}")
    assert page.status_code == 200
    assert 'id="move-verified"' not in page.text  # only officials verify
    token = csrf(page.text)

    def report(user_token: str = token, **data):
        return client.post(
            f"/workbench/rectification/{item_id}/progress",
            data={"csrf_token": user_token, "status": "", "evidence_text": "", **data},
            follow_redirects=False,
        )

    assert client.post(f"/workbench/rectification/{item_id}/progress", data={}).status_code == 403
    nothing = report()
    assert nothing.status_code == 400 and 'id="form-error"' in nothing.text
    without = report(status="done")
    assert without.status_code == 409 and 'id="form-error"' in without.text
    assert item_status(item_id)[0] == "open"
    url = report(evidence_file="https://evil.example/x")
    assert url.status_code == 400 and 'id="form-error"' in url.text
    assert report(evidence_text="已在大厅公示收费项目").status_code == 303
    assert item_status(item_id) == ("open", "已在大厅公示收费项目", None)
    forced = report(status="verified", evidence_text="已在大厅公示收费项目")
    assert forced.status_code == 403 and item_status(item_id)[0] == "open"
    assert (
        report(
            status="done",
            evidence_text="已在大厅公示收费项目",
            evidence_file="evidence/2026/notice.jpg",
        ).status_code
        == 303
    )
    assert item_status(item_id) == ("done", "已在大厅公示收费项目", "evidence/2026/notice.jpg")

    as_user(client, "official_d1")
    page = client.get(f"/workbench/rectification/{item_id}")
    assert 'id="move-verified"' in page.text
    verified = report(
        csrf(page.text),
        status="verified",
        evidence_text="已在大厅公示收费项目",
        evidence_file="evidence/2026/notice.jpg",
    )
    assert verified.status_code == 303
    assert item_status(item_id)[0] == "verified"
    closed = client.get(f"/workbench/rectification/{item_id}")
    assert 'id="closed-notice"' in closed.text and 'id="progress-form"' not in closed.text


def test_the_ledger_flags_overdue_items_with_how_many_days(web, pinned):  # noqa: F811
    client, world = web
    _, late = _item(world, date(2026, 3, 5))
    _, later = _item(world, date(2026, 3, 25))
    pinned.at = NOW + timedelta(days=7)  # 9 March in the city: 4 days past the 5th
    as_user(client, "doctor_d1")

    page = client.get("/workbench/rectification?lang=en")

    rows = re.findall(r'data-item="([0-9a-f]{32})" data-status="(\w+)"', page.text)
    assert rows == [(late, "overdue"), (later, "open")]
    assert "Overdue by 4 days" in page.text
    only_late = client.get("/workbench/rectification?status=overdue")
    assert re.findall(r'data-item="([0-9a-f]{32})"', only_late.text) == [late]
    bogus = client.get("/workbench/rectification?status=bogus")
    assert bogus.status_code == 400 and 'id="form-error"' in bogus.text


# --- flags and the navigation -------------------------------------------------------------------


def test_the_flag_page_lists_low_rated_providers_with_their_periods(web):
    client, world = web
    means = [PeriodMean(world.provider_d1, f"2025-{m:02d}", 2.5, 8) for m in (6, 7, 8)]
    means += [PeriodMean(world.provider_d2, f"2025-{m:02d}", 2.0, 9) for m in (6, 7, 8)]
    with session_scope() as session:
        service.recompute_flags(session, principal("admin1"), LowRatingRule(), means=means)
    as_user(client, "official_d1")

    page = client.get("/workbench/provider-flags")

    assert page.status_code == 200
    assert re.findall(r'data-provider="(\w+)"', page.text) == [world.provider_d1]
    assert re.findall(r'data-period="([\d-]+)"', page.text) == ["2025-06", "2025-07", "2025-08"]
    assert "幸福社区卫生服务中心" in page.text


def test_the_navigation_counts_what_waits_for_each_role(web, pinned):  # noqa: F811
    client, world = web
    urgent = file_complaint("resident1", provider_id=world.provider_d1, category="medical_safety")
    file_complaint("resident1", provider_id=world.provider_d1)
    file_complaint("resident2", provider_id=world.provider_d2)
    _item(world, date(2026, 3, 3))
    move(urgent, "rejected", "重复投诉")
    pinned.at = NOW + timedelta(days=8)  # everything unanswered is late; the item too
    as_user(client, "official_d1")

    nav = client.get("/workbench/complaints/nav")

    # Open in district 1: the ordinary one and the one the item came from (accepted).
    assert 'id="complaints-link"' in nav.text
    assert re.search(r'id="complaints-link"[^>]*data-open="2" data-overdue="2"', nav.text)
    assert re.search(r'id="rectification-link"[^>]*data-open="1" data-overdue="1"', nav.text)
    assert 'id="flags-link"' in nav.text
    today = client.get("/workbench/today")
    assert 'hx-get="/workbench/complaints/nav"' in today.text

    as_user(client, "doctor_d1")
    nav = client.get("/workbench/complaints/nav")
    assert 'id="complaints-link"' not in nav.text and 'id="flags-link"' not in nav.text
    assert 'id="rectification-link"' in nav.text and 'id="register-link"' in nav.text

    as_user(client, "grid_d1")
    nav = client.get("/workbench/complaints/nav")
    assert 'id="rectification-link"' not in nav.text and 'id="register-link"' in nav.text

    as_user(client, "official_d2")
    assert re.search(
        r'id="complaints-link"[^>]*data-open="1" data-overdue="1"',
        client.get("/workbench/complaints/nav").text,
    )
