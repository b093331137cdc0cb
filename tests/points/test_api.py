"""The points and time-bank API: who may call what, jurisdiction, idempotency, 409 overdrafts,
pagination, and problem+json for every error."""

from __future__ import annotations

import json

import pytest

from carematch.points import service
from carematch.points.endpoints import router
from carematch.security.authz import declared_authz
from tests.points.conftest import audit_rows, bearer

RULES = service.point_rules()
CHECKUP = RULES.activities["annual_checkup"].points
TALK = RULES.activities["health_talk"].points
PRICE = RULES.redemptions["medication_delivery"].price
STAFF = ("admin", "civil_affairs", "doctor", "grid_worker", "official", "vaccinator")


def is_problem(response, status: int, kind: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    if kind is not None:
        assert body["type"] == kind, body
    return body


def earn(api, user: str, person: str, activity: str, source: str):  # type: ignore[no-untyped-def]
    return api.post(
        "/api/v1/points/earn",
        json={
            "person_id": person,
            "activity": activity,
            "source_ref": {"kind": "service_record", "id": source},
        },
        headers=bearer(user),
    )


def test_points_routes_declare_who_may_call_them():
    declared = {
        (r.path, tuple(sorted(r.methods))): declared_authz(r.dependant)  # type: ignore[attr-defined]
        for r in router.routes
    }
    assert declared == {
        ("/points/rules", ("GET",)): (
            "admin", "civil_affairs", "doctor", "grid_worker", "official", "resident",
            "vaccinator",
        ),
        ("/points/me", ("GET",)): ("admin", "resident"),
        ("/points/me/entries", ("GET",)): ("admin", "resident"),
        ("/persons/{person_id}/points", ("GET",)): STAFF,
        ("/persons/{person_id}/points/entries", ("GET",)): STAFF,
        ("/points/earn", ("POST",)): STAFF,
        ("/points/redeem", ("POST",)): tuple(sorted((*STAFF, "resident"))),
        ("/points/entries/{entry_id}/reverse", ("POST",)): ("admin", "official"),
        ("/timebank/volunteer", ("POST",)): STAFF,
        ("/timebank/redeem", ("POST",)): STAFF,
    }  # fmt: skip


def test_a_resident_sees_points_a_doctor_credited_and_a_replay_credits_nothing(api, world):
    first = earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-1")
    again = earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-1")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert first.json()["created"] is True and again.json()["created"] is False
    assert again.json()["entry"]["id"] == first.json()["entry"]["id"]
    assert again.json()["balance"] == CHECKUP

    mine = api.get("/api/v1/points/me", headers=bearer("resident1"))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["person_id"] == world.person_d1
    assert body["balances"] == {"points": CHECKUP, "minutes": 0}
    [entry] = body["recent"]
    assert entry["id"] == first.json()["entry"]["id"]
    assert (entry["kind"], entry["code"], entry["amount"]) == ("earn", "annual_checkup", CHECKUP)
    assert entry["source_ref"] == {"kind": "service_record", "id": "SR-1"}
    assert sum(line["amount"] for line in entry["lines"]) == 0


def test_the_same_source_for_another_activity_is_a_conflict(api, world):
    assert earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-1").status_code == 201
    clash = earn(api, "doctor_d1", world.person_d1, "health_talk", "SR-1")
    is_problem(clash, 409, "/problems/points-source-used")


def test_staff_reach_only_persons_of_their_jurisdiction(api, world):
    outside = earn(api, "official_d1", world.person_d2, "health_talk", "T1")
    is_problem(outside, 404, "/problems/person-not-found")
    inside = earn(api, "official_d2", world.person_d2, "health_talk", "T1")
    assert inside.status_code == 201
    hidden = api.get(f"/api/v1/persons/{world.person_d2}/points", headers=bearer("official_d1"))
    is_problem(hidden, 404, "/problems/person-not-found")
    seen = api.get(f"/api/v1/persons/{world.person_d2}/points", headers=bearer("official_d2"))
    assert seen.status_code == 200 and seen.json()["balances"]["points"] == TALK
    by_admin = api.get(f"/api/v1/persons/{world.person_d2}/points", headers=bearer("admin1"))
    assert by_admin.json()["balances"]["points"] == TALK
    # The staff read of a person's points is audited.
    assert ("official_d2", "read_points") in [(a, b) for a, b, _ in audit_rows(world.person_d2)]


def test_residents_may_not_use_staff_endpoints(api, world):
    headers = bearer("resident1")
    is_problem(api.get(f"/api/v1/persons/{world.person_d1}/points", headers=headers), 403)
    is_problem(earn(api, "resident1", world.person_d1, "health_talk", "T1"), 403)
    is_problem(api.get("/api/v1/points/me", headers=bearer("doctor_d1")), 403)
    is_problem(api.get("/api/v1/points/me"), 401)


@pytest.mark.parametrize("user", ["resident3", "admin1"])
def test_a_user_without_a_person_record_has_no_points_of_their_own(api, world, user):
    for path in ("/api/v1/points/me", "/api/v1/points/me/entries"):
        is_problem(api.get(path, headers=bearer(user)), 404, "/problems/resident-not-linked")


def test_a_resident_redeems_for_themselves_and_is_refused_an_overdraft(api, world):
    headers = bearer("resident1")
    short = api.post(
        "/api/v1/points/redeem", json={"service": "medication_delivery"}, headers=headers
    )
    body = is_problem(short, 409, "/problems/points-overdrawn")
    assert (body["balance"], body["requested"], body["unit"]) == (0, PRICE, "points")

    earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-1")
    request = {
        "service": "medication_delivery",
        "source_ref": {"kind": "request", "id": "k1"},
    }
    paid = api.post("/api/v1/points/redeem", json=request, headers=headers)
    replay = api.post("/api/v1/points/redeem", json=request, headers=headers)
    assert (paid.status_code, replay.status_code) == (201, 200), paid.text
    assert paid.json()["balance"] == replay.json()["balance"] == CHECKUP - PRICE
    assert paid.json()["entry"]["amount"] == -PRICE

    # Someone else's points are out of reach: "not found", whoever it is.
    other = api.post(
        "/api/v1/points/redeem",
        json={"service": "medication_delivery", "person_id": world.person_d2},
        headers=headers,
    )
    is_problem(other, 404, "/problems/person-not-found")


def test_staff_redeem_for_a_person_in_their_jurisdiction(api, world):
    earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-1")
    paid = api.post(
        "/api/v1/points/redeem",
        json={"service": "medication_delivery", "person_id": world.person_d1},
        headers=bearer("doctor_d1"),
    )
    assert paid.status_code == 201, paid.text
    missing_person = api.post(
        "/api/v1/points/redeem",
        json={"service": "medication_delivery"},
        headers=bearer("doctor_d1"),
    )
    is_problem(missing_person, 400, "/problems/invalid-points-posting")


@pytest.mark.parametrize(
    ("path", "body", "status", "kind"),
    [
        ("/api/v1/points/earn", {"activity": "nap"}, 400, "/problems/unknown-points-activity"),
        ("/api/v1/points/earn", {"source_ref": {"kind": "reversal", "id": "x"}}, 400,
         "/problems/invalid-points-posting"),
        ("/api/v1/points/earn", {"source_ref": {"kind": "Bad Kind", "id": "x"}}, 422,
         "/problems/validation"),
        ("/api/v1/points/earn", {"memo": "a\x00b"}, 422, "/problems/validation"),
        ("/api/v1/points/redeem", {"service": "general_outpatient"}, 400,
         "/problems/service-not-redeemable"),
        ("/api/v1/timebank/volunteer", {"help_kind": "juggling"}, 400,
         "/problems/unknown-help-kind"),
        ("/api/v1/timebank/volunteer", {"minutes": 600}, 400, "/problems/invalid-points-posting"),
        ("/api/v1/timebank/volunteer", {"minutes": 0}, 422, "/problems/validation"),
    ],
)  # fmt: skip
def test_bad_requests_are_problems_never_500(api, world, path, body, status, kind):
    base = {
        "person_id": world.person_d1,
        "activity": "health_talk",
        "service": "medication_delivery",
        "help_kind": "shopping",
        "minutes": 30,
        "source_ref": {"kind": "talk", "id": "T1"},
    }
    is_problem(api.post(path, json=base | body, headers=bearer("doctor_d1")), status, kind)


def test_the_time_bank_earns_minutes_for_help_given_and_spends_them_later(api, world):
    headers = bearer("official_d1")

    def timebank(path: str, minutes: int, source: str):  # type: ignore[no-untyped-def]
        return api.post(
            f"/api/v1/timebank/{path}",
            json={
                "person_id": world.person_d1,
                "help_kind": "escort_to_clinic",
                "minutes": minutes,
                "source_ref": {"kind": "help_record", "id": source},
            },
            headers=headers,
        )

    given = timebank("volunteer", 90, "H1")
    assert given.status_code == 201 and given.json()["unit"] == "minutes"
    assert timebank("volunteer", 90, "H1").status_code == 200  # the same record again
    spent = timebank("redeem", 60, "H2")
    assert spent.status_code == 201 and spent.json()["balance"] == 30
    is_problem(timebank("redeem", 31, "H3"), 409, "/problems/points-overdrawn")
    mine = api.get("/api/v1/points/me", headers=bearer("resident1")).json()
    assert mine["balances"] == {"points": 0, "minutes": 30}


def test_an_official_reverses_an_entry_once(api, world):
    earned = earn(api, "doctor_d1", world.person_d1, "health_talk", "T1").json()["entry"]
    path = f"/api/v1/points/entries/{earned['id']}/reverse"
    is_problem(api.post(path, json={"reason": "x"}, headers=bearer("doctor_d1")), 403)
    hidden = api.post(path, json={"reason": "wrong person"}, headers=bearer("official_d2"))
    is_problem(hidden, 404, "/problems/points-entry-not-found")

    undone = api.post(path, json={"reason": "wrong person"}, headers=bearer("official_d1"))
    again = api.post(path, json={"reason": "wrong person"}, headers=bearer("official_d1"))
    assert (undone.status_code, again.status_code) == (201, 200), undone.text
    reversal = undone.json()["entry"]
    assert reversal["reverses_id"] == earned["id"] and reversal["amount"] == -TALK
    assert undone.json()["balance"] == 0
    twice = api.post(
        f"/api/v1/points/entries/{reversal['id']}/reverse",
        json={"reason": "undo"},
        headers=bearer("official_d1"),
    )
    is_problem(twice, 409, "/problems/points-not-reversible")
    missing = api.post(
        "/api/v1/points/entries/nosuchentry/reverse",
        json={"reason": "x"},
        headers=bearer("official_d1"),
    )
    is_problem(missing, 404, "/problems/points-entry-not-found")
    listed = api.get(
        f"/api/v1/persons/{world.person_d1}/points/entries", headers=bearer("official_d1")
    ).json()
    by_id = {item["id"]: item for item in listed["items"]}
    assert by_id[earned["id"]]["reversed_by"] == reversal["id"]


def test_entries_are_paged_newest_first_and_filtered_by_unit(api, world):
    for n in range(3):
        earn(api, "doctor_d1", world.person_d1, "questionnaire", f"Q{n}")
    api.post(
        "/api/v1/timebank/volunteer",
        json={
            "person_id": world.person_d1,
            "help_kind": "shopping",
            "minutes": 20,
            "source_ref": {"kind": "help_record", "id": "H1"},
        },
        headers=bearer("doctor_d1"),
    )
    headers = bearer("resident1")
    page = api.get("/api/v1/points/me/entries?limit=2&offset=0", headers=headers).json()
    rest = api.get("/api/v1/points/me/entries?limit=2&offset=2", headers=headers).json()
    assert (page["total"], page["limit"], page["offset"]) == (4, 2, 0)
    assert [i["source_ref"]["id"] for i in page["items"] + rest["items"]] == [
        "H1", "Q2", "Q1", "Q0",
    ]  # fmt: skip
    assert all("id" in item for item in page["items"])
    points = api.get("/api/v1/points/me/entries?unit=points", headers=headers).json()
    assert points["total"] == 3 and {i["unit"] for i in points["items"]} == {"points"}
    is_problem(api.get("/api/v1/points/me/entries?limit=0", headers=headers), 422)
    is_problem(api.get("/api/v1/points/me/entries?unit=hours", headers=headers), 422)


def test_every_posting_is_audited(api, world):
    entry = earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-7").json()["entry"]
    [(actor, action, detail)] = audit_rows(entry["id"])
    assert (actor, action) == ("doctor_d1", "points_earn")
    assert json.loads(detail)["source"] == "service_record:SR-7"
    # A replay posts nothing, so it audits nothing new.
    earn(api, "doctor_d1", world.person_d1, "annual_checkup", "SR-7")
    assert len(audit_rows(entry["id"])) == 1


def test_the_rules_are_published_to_every_signed_in_user(api, world):
    rules = api.get("/api/v1/points/rules", headers=bearer("resident1")).json()
    activities = {a["code"]: a["points"] for a in rules["activities"]}
    assert activities["annual_checkup"] == CHECKUP
    prices = {r["service"]: r for r in rules["redemptions"]}
    assert prices["medication_delivery"]["price"] == PRICE
    assert prices["medication_delivery"]["name"] == "药品配送"
    assert rules["minutes_per_minute"] == 1
