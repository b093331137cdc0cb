"""Profiles and demands over the API, on SQLite and PostgreSQL: roles, jurisdiction, audit."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.profiling.service import build_profiles
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from tests.fixtures.factories import make_id, write_extract
from tests.fixtures.people import D1, PASSWORD, build_two_districts, token

EHR_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,"
    "disability_level,lives_alone"
)
AS_OF = date(2026, 6, 30)


def _world(tmp_path):
    """Two districts; the district-1 migrant (born 1958) has hypertension at 158/95."""
    people = build_two_districts(tmp_path)
    id1 = make_id(D1, date(1958, 5, 20), 11, "M")
    write_extract(
        tmp_path / "ehr.csv",
        EHR_HEADER,
        [
            f"E1,林国栋,{id1},M,1958-05-20,,,{D1}001001,hypertension,158,95,,2026-05-01,"
            "2026-01-10,false,false,0,false"
        ],
    )
    with session_scope() as session:
        ingest_file(session, "ehr", tmp_path / "ehr.csv")
        build_persons_exact(session)
        create_user(session, "grid_d1", "grid_worker", PASSWORD, D1)
        build_profiles(session, AS_OF)
    return people


def test_profile_shows_tags_with_their_reasons_and_demands(client, env, tmp_path):
    people = _world(tmp_path)
    doctor = token(client, "doctor_d1")
    response = client.get(
        f"/api/v1/persons/{people.person_d1}/profile",
        params={"as_of": AS_OF.isoformat()},
        headers=doctor,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    tags = {t["tag"]: t for t in body["tags"]}
    assert tags["chronic_continuity"]["because"] == {
        "has('hypertension')": True,
        "hukou": "migrant",
    }
    assert tags["hypertension_uncontrolled"]["because"]["sbp"] == 158
    assert tags["elderly_checkup"]["because"] == {"age": 68}
    assert body["features"]["age"] == 68 and body["features"]["conditions"] == ["hypertension"]
    services = {(d["tag"], d["service"]) for d in body["demands"]}
    assert ("chronic_continuity", "chronic_followup") in services
    assert all(d["status"] == "open" for d in body["demands"])
    with session_scope() as session:
        reads = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "read_person", AuditEntry.entity_id == people.person_d1
            )
        ).all()
    assert reads, "a profile read is a read of the person's record and must be audited"


def test_profile_is_404_outside_the_jurisdiction_and_403_for_grid_workers(client, env, tmp_path):
    people = _world(tmp_path)
    other = client.get(
        f"/api/v1/persons/{people.person_d1}/profile", headers=token(client, "official_d2")
    )
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
    grid = client.get(
        f"/api/v1/persons/{people.person_d1}/profile", headers=token(client, "grid_d1")
    )
    assert grid.status_code == 403


def test_demand_list_is_scoped_and_serving_is_final(client, env, tmp_path):
    people = _world(tmp_path)
    d1 = client.get("/api/v1/demands", params={"limit": 200}, headers=token(client, "grid_d1"))
    assert d1.status_code == 200
    assert d1.json()["total"] > 0
    assert {item["person_id"] for item in d1.json()["items"]} == {people.person_d1}
    assert all("because" not in item for item in d1.json()["items"])
    d2 = client.get("/api/v1/demands", headers=token(client, "official_d2")).json()
    assert people.person_d1 not in {item["person_id"] for item in d2["items"]}

    target = next(i for i in d1.json()["items"] if i["tag"] == "chronic_continuity")
    outsider = client.post(
        f"/api/v1/demands/{target['id']}/served", headers=token(client, "official_d2")
    )
    assert outsider.status_code == 404
    served = client.post(
        f"/api/v1/demands/{target['id']}/served", headers=token(client, "doctor_d1")
    )
    assert served.status_code == 200 and served.json()["status"] == "served"
    with session_scope() as session:
        rerun = build_profiles(session, AS_OF)
    assert rerun.opened == 0 and rerun.closed == 0
    after = client.get(
        "/api/v1/demands",
        params={"status": "served"},
        headers=token(client, "doctor_d1"),
    ).json()
    assert [i["id"] for i in after["items"]] == [target["id"]]
    missing = client.post("/api/v1/demands/Dnope/served", headers=token(client, "doctor_d1"))
    assert missing.status_code == 404
    bad = client.get(
        "/api/v1/demands", params={"status": "maybe"}, headers=token(client, "doctor_d1")
    )
    assert bad.status_code == 422
