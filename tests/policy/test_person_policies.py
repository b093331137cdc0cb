"""A database person's policies over the API and on the resident portal: roles,
jurisdiction, dependants, audit, and the page's plain words and booking links."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from carematch.booking.service import register_dependant
from carematch.core.db import session_scope
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.authz import Principal
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
    """Two districts; the district-1 migrant man (born 1958, so 68) has hypertension and a
    family doctor; resident1 is him, resident2 is the district-2 woman's account."""
    people = build_two_districts(tmp_path)
    id1 = make_id(D1, date(1958, 5, 20), 11, "M")
    write_extract(
        tmp_path / "ehr.csv",
        EHR_HEADER,
        [
            f"E1,林国栋,{id1},M,1958-05-20,,,{D1}001001,hypertension,158,95,,2026-05-01,"
            "2026-01-10,true,false,0,false"
        ],
    )
    with session_scope() as session:
        ingest_file(session, "ehr", tmp_path / "ehr.csv")
        build_persons_exact(session)
        create_user(session, "me_d1", "resident", PASSWORD, person_id=people.person_d1)
        create_user(session, "me_d2", "resident", PASSWORD, person_id=people.person_d2)
    return people


def _get(client, person_id, headers):
    return client.get(
        f"/api/v1/persons/{person_id}/policies",
        params={"as_of": AS_OF.isoformat()},
        headers=headers,
    )


def test_staff_see_a_persons_policies_with_why_and_services(sqlite_client, tmp_path):
    people = _world(tmp_path)

    response = _get(sqlite_client, people.person_d1, token(sqlite_client, "doctor_d1"))

    assert response.status_code == 200, response.text
    body = response.json()
    by_id = {p["id"]: p for p in body["policies"]}
    assert body["eligible"] == sorted(p["id"] for p in body["policies"] if p["eligible"])
    # 68, hypertension, signed: flu jab and joint management apply; the checks say why
    assert by_id["P-ELDER-FLU"]["eligible"] and by_id["P-ELDER-FLU"]["because"] == {"age": 68}
    assert by_id["P-SANGAO"]["eligible"]
    assert by_id["P-SANGAO"]["because"]["has('hypertension')"] is True
    assert [s["code"] for s in by_id["P-ELDER-FLU"]["services"]] == [
        "vaccination_adult",
        "home_vaccination",
    ]
    benefit = by_id["P-ELDER-FLU"]["benefit"]
    assert {k: v for k, v in benefit.items() if v is not None} == {
        "kind": "free_service",
        "quantity": 1,
    }
    assert not by_id["P-CHILD-NIP"]["eligible"]
    assert by_id["P-CHILD-NIP"]["because"] == {"age": 68}
    with session_scope() as session:
        reads = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "read_person", AuditEntry.entity_id == people.person_d1
            )
        ).all()
    assert [r.actor for r in reads] == ["doctor_d1"]


def test_only_the_jurisdiction_and_the_family_may_read_them(sqlite_client, tmp_path):
    people = _world(tmp_path)

    outside = _get(sqlite_client, people.person_d1, token(sqlite_client, "official_d2"))
    someone_else = _get(sqlite_client, people.person_d1, token(sqlite_client, "me_d2"))
    themselves = _get(sqlite_client, people.person_d1, token(sqlite_client, "me_d1"))
    unknown = _get(sqlite_client, "nobody", token(sqlite_client, "admin1"))
    with session_scope() as session:
        admin = Principal("x", "admin1", "admin", None)
        register_dependant(
            session,
            admin,
            guardian_id=people.person_d2,
            dependant_id=people.person_d1,
            relation="parent",
        )
    as_guardian = _get(sqlite_client, people.person_d1, token(sqlite_client, "me_d2"))
    far_future = sqlite_client.get(
        f"/api/v1/persons/{people.person_d1}/policies",
        params={"as_of": "9999-12-31"},
        headers=token(sqlite_client, "doctor_d1"),
    )

    assert outside.status_code == 404
    assert someone_else.status_code == 404
    assert someone_else.headers["content-type"].startswith("application/problem+json")
    assert themselves.status_code == 200
    assert unknown.status_code == 404
    assert as_guardian.status_code == 200, as_guardian.text
    assert far_future.status_code == 400
    assert "as_of must lie between" in far_future.json()["detail"]


def test_the_portal_page_lists_what_applies_with_booking_links(sqlite_client, tmp_path):
    _world(tmp_path)
    signed_out = sqlite_client.get("/portal/policies", follow_redirects=False)
    assert signed_out.headers["location"] == "/login?next=/portal/policies"
    login = sqlite_client.post(
        "/login", data={"username": "me_d1", "password": PASSWORD}, follow_redirects=False
    )
    assert login.status_code == 303

    page = sqlite_client.get("/portal/policies")
    english = sqlite_client.get("/portal/policies?lang=en")
    portal = sqlite_client.get("/portal?lang=zh")

    assert page.status_code == 200
    text = page.text
    assert "我能享受的政策" in text
    assert "老年人流感疫苗免费接种" in text
    assert 'href="/services/nearby?service=vaccination_adult"' in text
    assert "免费，每年 1 次" in text
    # ineligible policies are folded below with the facts that decided them
    folded = text.split('<details class="other-policies">')[1]
    assert "国家免疫规划疫苗免费接种" in folded
    assert "评估日的周岁年龄: " in folded
    assert 'data-policy="P-ELDER-FLU"' not in folded
    assert "Free influenza vaccine for people aged 60 and over" in english.text
    assert "Free of charge, 1 times a year" in english.text
    assert 'href="/portal/policies"' in portal.text
