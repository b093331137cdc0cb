"""The feedback API on SQLite and PostgreSQL: complaints, the ledger, flags and the board."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from carematch.providers.hours import CITY_TZ
from tests.feedback.conftest import NOW, audit_actions, bearer
from tests.fixtures.people import D1, D2

PROBLEM = "application/problem+json"


def file(api, user: str, **body):
    body.setdefault("category", "service_attitude")
    body.setdefault("text", "护士态度恶劣，拒绝解释收费项目。")
    return api.post("/api/v1/complaints", json=body, headers=bearer(user))


def move(api, complaint_id: str, to: str, note: str | None = None, user: str = "official_d1"):
    return api.post(
        f"/api/v1/complaints/{complaint_id}/transitions",
        json={"to": to, "note": note},
        headers=bearer(user),
    )


def accepted_complaint(api, world, **body) -> str:
    body.setdefault("provider_id", world.provider_d1)
    created = file(api, "resident1", **body)
    assert created.status_code == 201, created.text
    complaint_id = created.json()["id"]
    assert move(api, complaint_id, "accepted").status_code == 200
    return complaint_id


def open_items(api, complaint_id: str, deadline: date, user: str = "official_d1"):
    return api.post(
        "/api/v1/rectifications",
        json={
            "source": "complaint",
            "complaint_id": complaint_id,
            "text": "经核查，该护士未按规定公示收费项目，患者投诉属实。",
            "items": [
                {"measure": "公示全部收费项目并组织服务礼仪培训", "deadline": deadline.isoformat()},
                {
                    "owner_kind": "department",
                    "department": "区卫健局医政科",
                    "measure": "督导全区社区卫生服务中心收费公示",
                    "deadline": deadline.isoformat(),
                },
            ],
        },
        headers=bearer(user),
    )


# --- complaints ----------------------------------------------------------------------------


def test_a_resident_files_in_their_own_name_and_gets_the_categorys_deadline(api, world):
    response = file(api, "resident1", provider_id=world.provider_d1)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "received"
    assert body["channel"] == "web"
    assert body["complainant_person_id"] == world.person_d1
    assert body["anonymous"] is False
    assert body["region_code"] == f"{D1}001001"
    # Received Monday 2 March 09:00: 5 working days end with Monday 9 March.
    assert datetime.fromisoformat(body["due_at"]) == datetime(2026, 3, 10, tzinfo=CITY_TZ)
    assert body["overdue"] is False
    assert body["next_statuses"] == ["accepted", "rejected"]
    assert [e["to_status"] for e in body["events"]] == ["received"]
    actions = audit_actions(body["id"])
    assert [(a, act) for a, act, _ in actions] == [("resident1", "complaint_received")]
    assert "护士" not in actions[0][2]


def test_an_urgent_complaint_is_due_in_24_hours(api, world):
    response = file(api, "resident1", provider_id=world.provider_d1, category="medical_safety")

    due = datetime.fromisoformat(response.json()["due_at"])
    assert due - NOW == timedelta(hours=24)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"channel": "hotline_12345"}, "resident files through"),
        ({"category": "no_such"}, "categories: medical_safety"),
        ({"provider_id": None, "service": None}, "which provider or which service"),
        ({"text": "   "}, "no text"),
        ({"received_at": "2026-03-01T10:00:00+08:00"}, "set by the platform"),
        ({"service": "no_such_service", "provider_id": None}, "service"),
    ],
)
def test_a_resident_complaint_the_platform_cannot_take_is_a_400(api, world, body, message):
    body = {"provider_id": world.provider_d1, **body}

    response = file(api, "resident1", **body)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert message in response.json()["detail"]


def test_staff_register_an_anonymous_hotline_call_for_the_providers_district(api, world):
    registered = file(
        api,
        "grid_d1",
        channel="hotline_12345",
        provider_id=world.provider_d2,
        contact="13912345678",
        received_at="2026-03-01T20:00:00+08:00",
    )

    assert registered.status_code == 201, registered.text
    body = registered.json()
    assert body["anonymous"] is True
    assert body["contact"] == "13912345678"
    assert body["region_code"] == f"{D2}001001"
    # Received on Sunday: Monday is the first of 5 working days.
    assert datetime.fromisoformat(body["due_at"]) == datetime(2026, 3, 7, tzinfo=CITY_TZ)
    # District 2 handles it; district 1's official does not see it.
    cid = body["id"]
    assert api.get(f"/api/v1/complaints/{cid}", headers=bearer("official_d1")).status_code == 404
    assert api.get(f"/api/v1/complaints/{cid}", headers=bearer("official_d2")).status_code == 200


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"channel": "letter"}, 400, "anonymous complaint needs a contact"),
        (
            {"channel": "letter", "contact": "x", "received_at": "2026-03-03T10:00:00+08:00"},
            400,
            "future",
        ),
        (
            {"channel": "letter", "contact": "x", "region_code": f"{D1}001001"},
            400,
            "from the provider",
        ),
        ({"channel": "in_person", "provider_id": "PRVNONE", "contact": "x"}, 404, "provider"),
    ],
)
def test_staff_registrations_are_checked(api, world, body, status, message):
    body = {"provider_id": world.provider_d1, **body}

    response = file(api, "grid_d1", **body)

    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_a_resident_cannot_file_in_someone_elses_name(api, world):
    response = file(api, "resident1", provider_id=world.provider_d1, person_id=world.person_d2)

    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    listed = api.get("/api/v1/complaints", headers=bearer("resident2")).json()
    assert listed["total"] == 0


def test_staff_cannot_file_for_a_person_outside_their_district(api, world):
    response = file(
        api,
        "grid_d1",
        channel="in_person",
        provider_id=world.provider_d1,
        person_id=world.person_d2,
    )

    assert response.status_code == 404


def test_a_complaint_about_a_service_alone_goes_to_the_region_given_or_the_complainants(api, world):
    by_resident = file(api, "resident1", service="vaccination_adult")
    by_staff = file(
        api,
        "official_d1",
        channel="letter",
        service="vaccination_adult",
        contact="幸福路1号",
        region_code=D2,
    )

    assert by_resident.json()["region_code"] == f"{D1}001001"
    assert by_staff.json()["region_code"] == D2


def test_a_resident_sees_only_their_own_complaints(api, world):
    mine = file(api, "resident1", provider_id=world.provider_d1).json()["id"]
    theirs = file(api, "resident2", provider_id=world.provider_d1).json()["id"]
    staff = file(
        api, "grid_d1", channel="hotline_12345", provider_id=world.provider_d1, contact="1"
    ).json()["id"]

    listed = api.get("/api/v1/complaints", headers=bearer("resident1")).json()

    assert [c["id"] for c in listed["items"]] == [mine]
    assert listed["total"] == 1
    assert "text" not in listed["items"][0]
    assert api.get(f"/api/v1/complaints/{mine}", headers=bearer("resident1")).status_code == 200
    for other in (theirs, staff):
        response = api.get(f"/api/v1/complaints/{other}", headers=bearer("resident1"))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith(PROBLEM)


def test_officials_list_the_complaints_of_their_jurisdiction(api, world):
    d1 = file(api, "resident1", provider_id=world.provider_d1).json()["id"]
    d2 = file(api, "resident2", provider_id=world.provider_d2).json()["id"]

    def ids(user: str, query: str = "") -> set[str]:
        page = api.get(f"/api/v1/complaints{query}", headers=bearer(user)).json()
        return {c["id"] for c in page["items"]}

    assert ids("official_d1") == {d1}
    assert ids("official_d2") == {d2}
    assert ids("admin1") == {d1, d2}
    assert ids("admin1", f"?provider_id={world.provider_d2}") == {d2}
    assert ids("official_d1", "?status=accepted") == set()
    assert api.get("/api/v1/complaints", headers=bearer("doctor_d1")).status_code == 403


def test_a_complaint_moves_to_closure_and_every_move_is_audited(api, world):
    cid = file(api, "resident1", provider_id=world.provider_d1).json()["id"]

    steps = [
        ("accepted", None),
        ("investigating", None),
        ("answered", "已约谈当事护士，并向您致歉。"),
        ("investigating", "投诉人对答复不满意，重新调查。"),
        ("answered", "已补充调查并再次答复。"),
        ("closed", None),
    ]
    for to, note in steps:
        response = move(api, cid, to, note)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to

    detail = api.get(f"/api/v1/complaints/{cid}", headers=bearer("resident1")).json()
    assert [e["to_status"] for e in detail["events"]] == ["received"] + [s for s, _ in steps]
    assert detail["events"][3]["note"] == "已约谈当事护士，并向您致歉。"
    assert detail["closed_at"] is not None
    assert detail["next_statuses"] == []
    audited = [(actor, action) for actor, action, _ in audit_actions(cid)]
    transitions = [a for a in audited if a[1] == "complaint_transition"]
    assert transitions == [("official_d1", "complaint_transition")] * len(steps)
    assert ("resident1", "read_complaint") in audited
    details = [
        json.loads(d) for _, action, d in audit_actions(cid) if action == "complaint_transition"
    ]
    assert [(d["from"], d["to"]) for d in details] == list(
        zip(["received"] + [s for s, _ in steps[:-1]], [s for s, _ in steps], strict=True)
    )
    assert all("致歉" not in d for _, _, d in audit_actions(cid))


def test_an_invalid_move_is_a_409_problem_listing_the_allowed_ones(api, world):
    cid = file(api, "resident1", provider_id=world.provider_d1).json()["id"]

    response = move(api, cid, "closed")

    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["allowed"] == ["accepted", "rejected"]
    assert response.json()["status"] == "received"
    no_reason = move(api, cid, "rejected", "  ")
    assert no_reason.status_code == 409
    assert "reason" in no_reason.json()["detail"]
    assert move(api, cid, "rejected", "不属于本平台受理范围").status_code == 200
    assert move(api, cid, "accepted").status_code == 409
    events = api.get(f"/api/v1/complaints/{cid}", headers=bearer("official_d1")).json()["events"]
    assert [e["to_status"] for e in events] == ["received", "rejected"]


def test_only_officials_of_the_complaints_region_move_it(api, world):
    cid = file(api, "resident1", provider_id=world.provider_d1).json()["id"]

    assert move(api, cid, "accepted", user="official_d2").status_code == 404
    assert move(api, cid, "accepted", user="doctor_d1").status_code == 403
    assert move(api, cid, "accepted", user="resident1").status_code == 403
    assert move(api, cid, "accepted", user="admin1").status_code == 200


def test_a_complaint_past_its_deadline_is_overdue_until_answered(api, world, pinned):
    cid = file(api, "resident1", provider_id=world.provider_d1).json()["id"]
    on_time = file(api, "resident1", provider_id=world.provider_d1, category="other").json()["id"]

    pinned.at = datetime(2026, 3, 10, 0, 0, tzinfo=CITY_TZ)  # the deadline instant itself

    def overdue(query: str) -> set[str]:
        page = api.get(f"/api/v1/complaints?{query}", headers=bearer("official_d1")).json()
        return {c["id"] for c in page["items"]}

    assert overdue("overdue=true") == {cid}
    assert overdue("overdue=false") == {on_time}
    assert move(api, cid, "accepted").status_code == 200
    assert move(api, cid, "answered", "答复").json()["overdue"] is False
    assert overdue("overdue=true") == set()


# --- the rectification ledger --------------------------------------------------------------


def test_a_finding_opens_items_that_are_tracked_to_a_verified_closure(api, world, pinned):
    cid = accepted_complaint(api, world)
    deadline = date(2026, 3, 31)

    created = open_items(api, cid, deadline)

    assert created.status_code == 201, created.text
    finding = created.json()
    provider_item, department_item = finding["items"]
    assert provider_item["owner_kind"] == "provider"
    assert provider_item["provider_id"] == world.provider_d1
    assert provider_item["owner_name"] == "幸福社区卫生服务中心"
    assert department_item["owner_name"] == "区卫健局医政科"
    assert department_item["region_code"] == f"{D1}001001"
    assert provider_item["status"] == "open"
    assert provider_item["complaint_id"] == cid
    item = provider_item["id"]
    url = f"/api/v1/rectifications/{item}"

    without_evidence = api.patch(url, json={"status": "done"}, headers=bearer("doctor_d1"))
    assert without_evidence.status_code == 409
    assert "evidence" in without_evidence.json()["detail"]
    started = api.patch(url, json={"status": "in_progress"}, headers=bearer("doctor_d1"))
    assert started.json()["status"] == "in_progress"
    done = api.patch(
        url,
        json={
            "status": "done",
            "evidence_text": "培训签到表已上传",
            "evidence_file": "evidence/2026/sign-in.pdf",
        },
        headers=bearer("doctor_d1"),
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done"
    doctor_verifies = api.patch(url, json={"status": "verified"}, headers=bearer("doctor_d1"))
    assert doctor_verifies.status_code == 403
    pinned.at = NOW + timedelta(days=2)
    verified = api.patch(url, json={"status": "verified"}, headers=bearer("official_d1"))
    assert verified.status_code == 200
    assert verified.json()["verified_by"] == "official_d1"
    assert datetime.fromisoformat(verified.json()["verified_at"]).date() == date(2026, 3, 4)
    after = api.patch(url, json={"evidence_text": "补充"}, headers=bearer("official_d1"))
    assert after.status_code == 409

    audited = [(a, act, json.loads(d)) for a, act, d in audit_actions(item)]
    assert [act for _, act, _ in audited] == ["rectification_opened"] + [
        "rectification_updated"
    ] * 3
    assert [(d["from"], d["to"]) for _, act, d in audited[1:]] == [
        ("open", "in_progress"),
        ("in_progress", "done"),
        ("done", "verified"),
    ]
    assert all("培训" not in json.dumps(d, ensure_ascii=False) for _, _, d in audited)


def test_an_official_refuses_evidence_and_the_item_goes_back_in_progress(api, world):
    cid = accepted_complaint(api, world)
    item = open_items(api, cid, date(2026, 3, 31)).json()["items"][0]["id"]
    url = f"/api/v1/rectifications/{item}"
    api.patch(url, json={"status": "done", "evidence_text": "已整改"}, headers=bearer("doctor_d1"))

    refused = api.patch(url, json={"status": "in_progress"}, headers=bearer("official_d1"))

    assert refused.json()["status"] == "in_progress"
    assert refused.json()["done_at"] is None


def test_an_unfinished_item_past_its_deadline_shows_overdue(api, world, pinned):
    cid = accepted_complaint(api, world)
    items = open_items(api, cid, date(2026, 3, 5)).json()["items"]
    api.patch(
        f"/api/v1/rectifications/{items[1]['id']}",
        json={"status": "done", "evidence_text": "已督导"},
        headers=bearer("official_d1"),
    )

    pinned.at = datetime(2026, 3, 6, 0, 0, tzinfo=CITY_TZ)
    listed = api.get("/api/v1/rectifications", headers=bearer("doctor_d1")).json()
    overdue = api.get("/api/v1/rectifications?status=overdue", headers=bearer("doctor_d1")).json()

    statuses = {i["id"]: (i["status"], i["stored_status"]) for i in listed["items"]}
    assert statuses == {items[0]["id"]: ("overdue", "open"), items[1]["id"]: ("done", "done")}
    assert [i["id"] for i in overdue["items"]] == [items[0]["id"]]


def test_findings_need_an_accepted_complaint(api, world):
    cid = file(api, "resident1", provider_id=world.provider_d1).json()["id"]

    response = open_items(api, cid, date(2026, 3, 31))

    assert response.status_code == 409
    assert response.json()["status"] == "received"


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"deadline": "2026-03-01"}, 400, "already passed"),
        ({"deadline": "2029-01-01"}, 400, "at most"),
        ({"owner_kind": "department"}, 400, "names the department"),
    ],
)
def test_items_are_checked(api, world, change, status, message):
    cid = accepted_complaint(api, world)
    item = {"measure": "整改", "deadline": "2026-03-31", **change}

    response = api.post(
        "/api/v1/rectifications",
        json={"source": "complaint", "complaint_id": cid, "text": "属实", "items": [item]},
        headers=bearer("official_d1"),
    )

    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_an_inspection_finding_outside_the_jurisdiction_is_forbidden(api, world):
    body = {
        "source": "inspection",
        "inspection_ref": "2026年一季度督查 第3号",
        "category": "service_quality",
        "text": "冷链记录不全",
        "items": [{"measure": "补齐冷链温度记录", "deadline": "2026-03-20"}],
    }

    outside = api.post(
        "/api/v1/rectifications",
        json={**body, "provider_id": world.provider_d2},
        headers=bearer("official_d1"),
    )
    inside = api.post(
        "/api/v1/rectifications",
        json={**body, "provider_id": world.provider_d1},
        headers=bearer("official_d1"),
    )

    assert outside.status_code == 403
    assert inside.status_code == 201, inside.text
    assert inside.json()["items"][0]["inspection_ref"] == "2026年一季度督查 第3号"
    assert inside.json()["items"][0]["source"] == "inspection"


def test_ledger_items_are_seen_only_within_the_jurisdiction(api, world):
    cid = accepted_complaint(api, world)
    item = open_items(api, cid, date(2026, 3, 31)).json()["items"][0]["id"]

    assert api.get(f"/api/v1/rectifications/{item}", headers=bearer("doctor_d1")).status_code == 200
    assert (
        api.get(f"/api/v1/rectifications/{item}", headers=bearer("official_d2")).status_code == 404
    )
    assert api.get("/api/v1/rectifications", headers=bearer("official_d2")).json()["total"] == 0
    assert api.get("/api/v1/rectifications", headers=bearer("resident1")).status_code == 403
    by_complaint = api.get(
        f"/api/v1/rectifications?complaint_id={cid}", headers=bearer("official_d1")
    ).json()
    assert by_complaint["total"] == 2


# --- the public board ----------------------------------------------------------------------


def test_the_board_counts_and_shows_no_personal_data(api, world, pinned):
    secret_text = "王小明说护士泄露了他的乙肝病史"
    contact = "13811112222"
    cid = accepted_complaint(api, world, text=secret_text)
    anonymous = file(
        api, "grid_d1", channel="hotline_12345", provider_id=world.provider_d1, contact=contact
    ).json()["id"]
    move(api, anonymous, "rejected", "重复投诉")
    items = open_items(api, cid, date(2026, 3, 5)).json()["items"]
    api.patch(
        f"/api/v1/rectifications/{items[0]['id']}",
        json={"status": "done", "evidence_text": "证据：王小明签字确认"},
        headers=bearer("doctor_d1"),
    )
    move(api, cid, "answered", "王小明您好，已整改")

    pinned.at = datetime(2026, 3, 10, 12, 0, tzinfo=CITY_TZ)
    response = api.get("/api/v1/board")

    assert response.status_code == 200
    board = response.json()
    assert board["complaints"]["total"] == 2
    assert board["complaints"]["by_status"]["answered"] == 1
    assert board["complaints"]["by_status"]["rejected"] == 1
    assert board["complaints"]["by_status"]["received"] == 0
    assert board["complaints"]["by_category"]["service_attitude"] == 2
    # The one answer came before its deadline; the refusal does not count.
    assert (board["complaints"]["due"], board["complaints"]["on_time"]) == (1, 1)
    assert board["complaints"]["on_time_rate"] == 1.0
    rect = board["rectifications"]
    assert rect["by_status"]["done"] == 1
    assert rect["by_status"]["overdue"] == 1
    assert (rect["due"], rect["on_time"], rect["on_time_rate"]) == (2, 1, 0.5)
    assert {i["id"] for i in board["items"]} == {i["id"] for i in items}
    assert set(board["items"][0]) == {
        "id",
        "provider_id",
        "owner",
        "owner_en",
        "owner_kind",
        "category",
        "measure",
        "deadline",
        "status",
        "closed_on",
    }
    raw = response.text
    for personal in (secret_text, "王小明", contact, world.person_d1, "resident1", "grid_d1"):
        assert personal not in raw
    assert "乙肝" not in json.dumps(board, ensure_ascii=False)


def test_the_board_of_a_district_counts_only_that_district(api, world):
    file(api, "resident1", provider_id=world.provider_d1)
    file(api, "resident2", provider_id=world.provider_d2)
    file(api, "resident2", provider_id=world.provider_d2)

    d2 = api.get(f"/api/v1/board?region={D2}").json()

    assert d2["complaints"]["total"] == 2
    assert d2["region"] == D2
    unknown = api.get("/api/v1/board?region=449999")
    assert unknown.status_code == 400
    assert unknown.headers["content-type"].startswith(PROBLEM)


# --- low-rating flags ----------------------------------------------------------------------


def low_months(provider: str, months: list[int], mean: float = 2.4) -> list[dict]:
    return [
        {"provider_id": provider, "period": f"2025-{m:02d}", "mean": mean, "count": 12}
        for m in months
    ]


def test_flags_are_recomputed_idempotently_and_extended_when_a_run_goes_on(api, world):
    url = "/api/v1/providers/flags/recompute"
    body = {"as_of": "2026-01-01", "means": low_months(world.provider_d1, [9, 10, 11])}

    first = api.post(url, json=body, headers=bearer("official_d1"))
    again = api.post(url, json=body, headers=bearer("official_d1"))
    longer = api.post(
        url,
        json={**body, "means": low_months(world.provider_d1, [9, 10, 11, 12])},
        headers=bearer("official_d1"),
    )

    assert first.status_code == 200, first.text
    assert (first.json()["new"], first.json()["unchanged"]) == (1, 0)
    assert (again.json()["new"], again.json()["unchanged"]) == (0, 1)
    assert (longer.json()["new"], longer.json()["extended"]) == (0, 1)
    flags = api.get("/api/v1/provider-flags", headers=bearer("official_d1")).json()
    assert flags["total"] == 1
    flag = flags["items"][0]
    assert (flag["first_period"], flag["last_period"], flag["periods"]) == ("2025-09", "2025-12", 4)
    assert [e["period"] for e in flag["evidence"]] == ["2025-09", "2025-10", "2025-11", "2025-12"]
    assert flag["rule"] == {"threshold": 3.0, "min_ratings": 5, "periods": 3, "period_months": 1}
    actions = [act for _, act, _ in audit_actions(flag["id"])]
    assert actions == ["provider_flagged", "provider_flag_extended"]


def test_a_month_under_way_and_a_good_month_do_not_flag(api, world):
    under_way = {"provider_id": world.provider_d1, "period": "2025-12", "mean": 2.0, "count": 30}
    means = [*low_months(world.provider_d1, [10, 11]), under_way]

    too_early = api.post(
        "/api/v1/providers/flags/recompute",
        json={"as_of": "2025-12-31", "means": means},
        headers=bearer("official_d1"),
    )
    reset = api.post(
        "/api/v1/providers/flags/recompute",
        json={
            "as_of": "2026-02-01",
            "means": low_months(world.provider_d1, [9, 10])
            + low_months(world.provider_d1, [11], mean=4.2)
            + low_months(world.provider_d1, [12]),
        },
        headers=bearer("official_d1"),
    )

    assert too_early.json()["new"] == 0
    assert too_early.json()["periods"] == 2
    assert reset.json()["new"] == 0
    assert api.get("/api/v1/provider-flags", headers=bearer("official_d1")).json()["total"] == 0


def test_officials_flag_and_see_only_providers_of_their_jurisdiction(api, world):
    means = low_months(world.provider_d1, [9, 10, 11]) + low_months(world.provider_d2, [9, 10, 11])
    means.append({"provider_id": "PRVGONE", "period": "2025-09", "mean": 1.0, "count": 9})

    d2 = api.post(
        "/api/v1/providers/flags/recompute",
        json={"as_of": "2026-01-01", "means": means, "periods": 1},
        headers=bearer("official_d2"),
    )

    assert [f["provider_id"] for f in d2.json()["flags"]] == [world.provider_d2]
    assert api.get("/api/v1/provider-flags", headers=bearer("official_d1")).json()["total"] == 0
    assert api.get("/api/v1/provider-flags", headers=bearer("doctor_d1")).status_code == 403


def add_ratings(provider_id: str, person_id: str, month: str, scores: list[int]) -> None:
    """Visits of one month at a provider, each rated once (booking's tables, written directly:
    the booking API is tested on its own)."""
    from carematch.booking.models import Rating, ServiceRecord
    from carematch.core.db import session_scope
    from carematch.core.ids import new_id

    performed = datetime.fromisoformat(f"{month}-15T10:00:00+08:00")
    with session_scope() as session:
        for score in scores:
            record = ServiceRecord(
                id=new_id(),
                person_id=person_id,
                provider_id=provider_id,
                service="chronic_followup",
                performed_at=performed,
                summary="随访",
                outcome="resolved",
                recorded_by="doctor_d1",
            )
            session.add(record)
            session.flush()
            session.add(
                Rating(
                    id=new_id(),
                    service_record_id=record.id,
                    person_id=person_id,
                    provider_id=provider_id,
                    service="chronic_followup",
                    visit_month=month,
                    score=score,
                    rated_by="resident1",
                )
            )


def test_recompute_reads_the_residents_ratings_of_whole_months(api, world):
    # Today is 2 March 2026: February is the last whole month, March is under way.
    for month in ("2025-11", "2025-12", "2026-01", "2026-02", "2026-03"):
        add_ratings(world.provider_d1, world.person_d1, month, [2, 2, 3, 1, 4])  # mean 2.4
    for month in ("2025-12", "2026-02"):
        add_ratings(world.provider_d2, world.person_d2, month, [1, 1, 1, 1, 1])
    add_ratings(world.provider_d2, world.person_d2, "2026-01", [1, 1, 1, 1])  # too few

    response = api.post("/api/v1/providers/flags/recompute", headers=bearer("admin1"))

    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["as_of"], summary["periods"], summary["providers"]) == ("2026-03-02", 7, 2)
    [flag] = summary["flags"]
    assert flag["provider_id"] == world.provider_d1
    assert (flag["first_period"], flag["last_period"], flag["periods"]) == ("2025-11", "2026-02", 4)
    assert {(e["mean"], e["count"]) for e in flag["evidence"]} == {(2.4, 5)}
    quarterly = api.post(
        "/api/v1/providers/flags/recompute",
        json={"period_months": 3, "periods": 1},
        headers=bearer("admin1"),
    ).json()
    # Of the quarters only the last of 2025 has ended: both providers were rated poorly in it
    # (ten ratings of provider 1, five of provider 2).
    assert {(f["provider_id"], f["first_period"]) for f in quarterly["flags"]} == {
        (world.provider_d1, "2025-10"),
        (world.provider_d2, "2025-10"),
    }


def test_misaligned_periods_are_a_clear_400(api, world):
    response = api.post(
        "/api/v1/providers/flags/recompute",
        json={
            "period_months": 3,
            "as_of": "2026-01-01",
            "means": low_months(world.provider_d1, [2]),
        },
        headers=bearer("official_d1"),
    )

    assert response.status_code == 400
    assert "does not start" in response.json()["detail"]


# --- malformed requests --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/complaints", {"category": "x"}),
        ("post", "/api/v1/complaints", {"category": "x", "text": "t", "channel": "fax"}),
        ("post", "/api/v1/rectifications", {"source": "complaint", "text": "t", "items": []}),
        ("patch", "/api/v1/rectifications/abc", {"status": "overdue"}),
        ("patch", "/api/v1/rectifications/abc", {"evidence_file": "../etc/passwd"}),
        ("patch", "/api/v1/rectifications/abc", {"evidence_file": "http://x/y"}),
        ("post", "/api/v1/providers/flags/recompute", {"threshold": "NaN"}),
        ("post", "/api/v1/providers/flags/recompute", {"period_months": 5}),
    ],
)
def test_malformed_requests_are_422_problems(api, world, method, path, body):
    response = getattr(api, method)(path, json=body, headers=bearer("admin1"))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)


@pytest.mark.parametrize("bad", ["x%00y", "nope", "0" * 32, "a.b"])
def test_an_id_that_cannot_exist_is_a_404(api, world, bad):
    for path in (f"/api/v1/complaints/{bad}", f"/api/v1/rectifications/{bad}"):
        response = api.get(path, headers=bearer("admin1"))
        assert response.status_code == 404, (path, response.text)


def test_nothing_to_change_is_a_400(api, world):
    cid = accepted_complaint(api, world)
    item = open_items(api, cid, date(2026, 3, 31)).json()["items"][0]["id"]

    response = api.patch(f"/api/v1/rectifications/{item}", json={}, headers=bearer("doctor_d1"))

    assert response.status_code == 400
