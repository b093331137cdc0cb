"""Policy search and the case library over the API, on the resident portal and the workbench:
roles, a resident's own family, the audit of a person's use, and the pages' answers."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from tests.fixtures.factories import make_id, write_extract
from tests.fixtures.people import D1, PASSWORD, build_two_districts, token

EHR_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date,last_followup_date,signed_family_doctor,is_pregnant,"
    "disability_level,lives_alone"
)
AS_OF = "2026-06-30"


def _world(tmp_path):
    """The district-1 man (born 1958, 68) has hypertension and a family doctor; me_d1 is him."""
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


def _search(client, headers, **params):
    return client.get("/api/v1/policy/search", params={"as_of": AS_OF, **params}, headers=headers)


def _login(client, username):
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 303


def _answers(page: str) -> list[tuple[str, str]]:
    """(policy id, its HTML) of each answer of the search box, in order."""
    section = page.split('id="search-results"')[1].split('<div id="policies">')[0]
    items = section.split('data-policy="')[1:]
    return [(item.split('"')[0], item) for item in items]


def test_staff_search_the_case_library_api_and_the_workbench_page(sqlite_client, tmp_path):
    _world(tmp_path)
    _staff_search(sqlite_client)
    _case_library_api(sqlite_client)
    _workbench_cases(sqlite_client)


def test_a_residents_search_is_ranked_for_them_audited_and_on_the_portal(sqlite_client, tmp_path):
    people = _world(tmp_path)
    _resident_ranked(sqlite_client, people)
    _family_and_jurisdiction(sqlite_client, people)
    _portal(sqlite_client)


def _staff_search(sqlite_client):
    response = _search(sqlite_client, token(sqlite_client, "doctor_d1"), q="降压药医保能报多少")
    assert response.status_code == 200, response.text
    body = response.json()
    first = body["results"][0]
    assert body["person_id"] is None
    assert first["id"] == "P-CHRONIC-OUTPATIENT"
    assert "降压药" in first["clause"]
    assert first["title"] == "高血压糖尿病门诊用药保障"
    assert "medication_delivery" in [s["code"] for s in first["services"]]
    assert first["eligible"] is None  # nobody known: no verdict
    empty = _search(sqlite_client, token(sqlite_client, "doctor_d1"), q="？？")
    assert empty.status_code == 200 and empty.json()["results"] == []
    too_many = _search(sqlite_client, token(sqlite_client, "doctor_d1"), q="体检", top=500)
    assert too_many.status_code == 422


def _case_library_api(sqlite_client):
    staff = token(sqlite_client, "official_d1")
    every = sqlite_client.get("/api/v1/policy/cases", headers=staff)
    found = sqlite_client.get("/api/v1/policy/cases", params={"q": "孩子疫苗漏打了"}, headers=staff)
    resident = sqlite_client.get("/api/v1/policy/cases", headers=token(sqlite_client, "me_d1"))
    assert every.status_code == 200 and len(every.json()) >= 12
    assert found.status_code == 200
    assert found.json()[0]["id"] == "C-004"
    assert found.json()[0]["passage"] in (
        found.json()[0]["background"],
        found.json()[0]["problem"],
        found.json()[0]["result"],
        *found.json()[0]["measures"],
    )
    assert resident.status_code == 403


def _workbench_cases(sqlite_client):
    _login(sqlite_client, "doctor_d1")

    index = sqlite_client.get("/workbench")
    every = sqlite_client.get("/workbench/cases")
    found = sqlite_client.get("/workbench/cases", params={"q": "农民工在工地上体检"})

    assert 'href="/workbench/cases"' in index.text
    assert every.status_code == 200
    assert every.text.count('class="card case"') >= 12
    assert found.status_code == 200
    first = found.text.split('data-case="')[1].split('"')[0]
    assert first == "C-002"
    assert 'class="answer"' in found.text


def _resident_ranked(sqlite_client, people):

    response = _search(sqlite_client, token(sqlite_client, "me_d1"), q="打流感疫苗要钱吗", top=10)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person_id"] == people.person_d1
    flags = [r["eligible"] for r in body["results"]]
    assert flags == sorted(flags, reverse=True)  # his eligible policies first
    flu = next(r for r in body["results"] if r["id"] == "P-ELDER-FLU")
    assert flu["eligible"] is True and flu["why"]["because"] == {"age": 68}
    nip = [r for r in body["results"] if r["id"] == "P-CHILD-NIP"]
    assert not nip or (nip[0]["eligible"] is False and nip[0]["why"]["because"] == {"age": 68})
    with session_scope() as session:
        uses = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "policy_search_for_person",
                AuditEntry.entity_id == people.person_d1,
            )
        ).all()
    assert [u.actor for u in uses] == ["me_d1"]


def _family_and_jurisdiction(sqlite_client, people):
    q = {"q": "体检"}
    someone_else = _search(
        sqlite_client, token(sqlite_client, "me_d2"), person_id=people.person_d1, **q
    )
    outside = _search(
        sqlite_client, token(sqlite_client, "official_d2"), person_id=people.person_d1, **q
    )
    inside = _search(
        sqlite_client, token(sqlite_client, "official_d1"), person_id=people.person_d1, **q
    )
    assert someone_else.status_code == 404
    assert outside.status_code == 404
    assert inside.status_code == 200 and inside.json()["person_id"] == people.person_d1
    with session_scope() as session:
        uses = session.scalars(
            select(AuditEntry.actor).where(AuditEntry.action == "policy_search_for_person")
        ).all()
    # the resident's own search before, and the official's; refused ones leave no use behind
    assert sorted(uses) == ["me_d1", "official_d1"]


def _portal(sqlite_client):
    _login(sqlite_client, "me_d1")

    plain = sqlite_client.get("/portal/policies")
    page = sqlite_client.get("/portal/policies", params={"q": "降压药医保能报多少"})
    applies = sqlite_client.get(
        "/portal/policies", params={"q": "签了家庭医生的三高病人自己出多少"}
    )
    nothing = sqlite_client.get("/portal/policies", params={"q": "！！！"})

    assert 'name="q"' in plain.text and 'id="search-results"' not in plain.text
    assert page.status_code == 200
    answers = _answers(page.text)
    # the answer is the outpatient medicine policy, with its clause and services to book; his
    # insurance is not on record, so it is shown as not applying, with why
    assert answers[0][0] == "P-CHRONIC-OUTPATIENT"
    assert "门诊使用降压药、降糖药的费用" in answers[0][1]
    assert 'href="/services/nearby?service=medication_delivery"' in answers[0][1]
    assert "按现有记录不符合条件" in answers[0][1] and 'class="muted why"' in answers[0][1]
    first, text = _answers(applies.text)[0]
    assert first == "P-SANGAO"  # signed, hypertension: it applies to him
    assert "可以享受" in text and 'class="muted why"' not in text
    assert "没有找到相关政策" in nothing.text
