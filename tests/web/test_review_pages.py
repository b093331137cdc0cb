"""The review pages: the queue, a pair side by side, decisions, a person's page, undo."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.core.ids import stable_id
from carematch.identity.models import PersonLink, ReviewPair, SourceRecord
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from carematch.web.workbench.records import RecordView, compare
from carematch.web.workbench.review import waterfall_rows
from tests.web.conftest import (
    BAIYUN_COMMUNITY,
    JIANGNAN_COMMUNITY,
    PASSWORD,
    City,
    login,
)

# The evidence of a pair as the linker stores it: comparison → level and weight.
EVIDENCE = {
    "name": {"level": "different names", "weight": -4.5},
    "birth_date": {"level": "different dates", "weight": -3.0},
    "phone": {"level": "Exact match on phone", "weight": 6.25},
    "address": {"level": "Exact match on address_key", "weight": 2.0},
}


@dataclass(frozen=True)
class Queue:
    """The review pairs the tests start from, by what they are."""

    near: str  # 白云区: records of two different persons, probability 0.52 (most uncertain)
    far: str  # 白云区: probability 0.2
    jiangnan: str  # 江南区: outside the doctor's district
    same: str  # 白云区: two records of one person (P1's police and clinic records)


def _pk(session, record_id: str) -> str:
    return session.scalar(select(SourceRecord.id).where(SourceRecord.record_id == record_id))


def _owner(record_pk: str) -> str:
    with session_scope() as session:
        return session.scalar(select(PersonLink.person_id).where(PersonLink.record_pk == record_pk))


def _add_pair(session, left: str, right: str, p: float, community: str) -> str:
    """A pair keyed as the linker keys it: by its two record keys in sorted order."""
    a, b = sorted((_pk(session, left), _pk(session, right)))
    pair_id = stable_id("V", a, b)[:32]
    session.add(
        ReviewPair(
            id=pair_id,
            record_pk_l=a,
            record_pk_r=b,
            probability=p,
            match_weight=0.1,
            evidence=json.dumps(EVIDENCE),
            community_code=community,
            status="open",
        )
    )
    return pair_id


@pytest.fixture
def queue(city: City) -> Queue:
    with session_scope() as session:
        return Queue(
            near=_add_pair(session, "P2", "P3", 0.52, BAIYUN_COMMUNITY),
            far=_add_pair(session, "P3", "P1", 0.2, BAIYUN_COMMUNITY),
            jiangnan=_add_pair(session, "P4", "P5", 0.5, JIANGNAN_COMMUNITY),
            same=_add_pair(session, "P1", "E1", 0.9, BAIYUN_COMMUNITY),
        )


def _pair(pair_id: str) -> ReviewPair:
    with session_scope() as session:
        pair = session.get(ReviewPair, pair_id)
        assert pair is not None
        session.expunge(pair)
        return pair


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "the page has no form token"
    return found.group(1)


def _record_pks(html: str) -> list[str]:
    return re.findall(r'<article class="card record" data-record="(\w+)"', html)


def _person_of_p1() -> str:
    with session_scope() as session:
        return _owner(_pk(session, "P1"))


def _actions(username: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.actor == username)
                .order_by(AuditEntry.seq)
            )
        )


# --- the queue ---------------------------------------------------------------------------------


def test_queue_lists_the_district_s_open_pairs_most_uncertain_first(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")

    page = client.get("/workbench/review")

    assert page.status_code == 200
    listed = re.findall(r'<tr data-pair="(\w+)"', page.text)
    assert listed == [queue.near, queue.far, queue.same]  # 江南区's pair is not there
    assert "52.0%" in page.text and "云山社区" in page.text
    assert f'href="/workbench/review/{queue.near}"' in page.text
    # The queue names the sources, never a person.
    assert "公安人口登记 ↔ 公安人口登记" in page.text
    assert "司马秀英" not in page.text


def test_a_city_official_sees_every_district_s_pairs(client: TestClient, queue: Queue, signed_in):
    signed_in("official")

    page = client.get("/workbench/review").text

    assert queue.jiangnan in re.findall(r'<tr data-pair="(\w+)"', page)


def test_decided_pairs_leave_the_queue(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)

    client.post(
        f"/workbench/review/{queue.near}/decision",
        data={"decision": "separate", "csrf_token": token},
    )

    listed = re.findall(r'<tr data-pair="(\w+)"', client.get("/workbench/review").text)
    assert queue.near not in listed and queue.far in listed


def test_queue_pages_with_htmx_fragments(client: TestClient, queue: Queue, signed_in, monkeypatch):
    monkeypatch.setattr("carematch.web.workbench.review.PAGE_SIZE", 1)
    signed_in("doctor")

    first = client.get("/workbench/review").text
    fragment = client.get("/workbench/review/queue?offset=1", headers={"HX-Request": "true"})

    assert re.findall(r'<tr data-pair="(\w+)"', first) == [queue.near]
    assert 'hx-get="/workbench/review/queue?offset=1"' in first
    assert fragment.text.lstrip().startswith('<section id="queue"')
    assert "<html" not in fragment.text
    assert re.findall(r'<tr data-pair="(\w+)"', fragment.text) == [queue.far]
    assert fragment.headers["HX-Push-Url"] == "/workbench/review?offset=1"
    assert 'rel="prev"' in fragment.text and 'rel="next"' in fragment.text


def test_workbench_links_to_the_queue_and_to_each_person(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")

    page = client.get("/workbench").text

    assert 'href="/workbench/review"' in page
    assert "人工复核队列：3 对待复核" in page
    assert f'href="/workbench/persons/{_person_of_p1()}"' in page


def test_empty_queue_says_so(client: TestClient, city: City, signed_in):
    signed_in("doctor")

    page = client.get("/workbench/review").text

    assert "您的辖区暂无待复核的记录对" in page


# --- a pair --------------------------------------------------------------------------------------


def test_pair_page_shows_both_records_their_differences_and_the_evidence(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")

    response = client.get(f"/workbench/review/{queue.near}")

    page = response.text
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    # Side by side, in full (this read is audited).
    assert "司马秀英" in page and "诸葛建国" in page
    states = dict(re.findall(r'data-field="(\w+)" data-state="(\w+)"', page))
    assert states["name"] == "differs"
    assert states["birth_date"] == "differs"
    assert states["phone"] == "same" and states["sex"] == "same"
    assert states["source"] == "same"  # both from the police: never marked as evidence
    # Two persons, each linked to their page.
    owners = re.findall(r'<td id="person-(?:left|right)"><a href="/workbench/persons/(\w+)"', page)
    assert len(owners) == 2 and owners[0] != owners[1]
    # The waterfall: prior, the four comparisons, the total.
    bars = re.findall(r'data-comparison="(\w+)" data-weight="(-?[\d.]+)"', page)
    assert [name for name, _ in bars] == [
        "prior",
        "name",
        "birth_date",
        "phone",
        "address",
        "total",
    ]
    weights = [float(w) for _, w in bars]
    assert weights[1:5] == [-4.5, -3.0, 6.25, 2.0]
    assert abs(sum(weights[:-1]) - weights[-1]) < 0.01
    assert "Exact match on phone" in page
    assert 'id="link-pair"' in page and 'id="separate-pair"' in page
    assert 'id="undo-decision"' not in page
    assert "read_review_pair" in _actions("doctor")


def test_pair_page_in_english(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")

    page = client.get(f"/workbench/review/{queue.near}?lang=en").text

    assert "Same person – link" in page and "Different people – separate" in page
    assert "Prior (before any evidence)" in page
    assert "Police residence registration" in page


def test_a_pair_of_another_district_is_not_found(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")

    api_style = client.get(f"/workbench/review/{queue.jiangnan}")
    browser = client.get(f"/workbench/review/{queue.jiangnan}", headers={"Accept": "text/html"})
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)
    decided = client.post(
        f"/workbench/review/{queue.jiangnan}/decision",
        data={"decision": "link", "csrf_token": token},
    )

    assert api_style.status_code == 404
    assert browser.status_code == 404 and "页面不存在" in browser.text
    assert "上官丽娟" not in browser.text
    assert decided.status_code == 404
    assert _pair(queue.jiangnan).status == "open"
    assert client.get("/workbench/review/Vnosuchpair").status_code == 404


def test_link_merges_the_persons_and_undo_unmerges(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    pair = _pair(queue.near)
    left, right = _owner(pair.record_pk_l), _owner(pair.record_pk_r)
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)

    linked = client.post(
        f"/workbench/review/{queue.near}/decision",
        data={"decision": "link", "csrf_token": token},
        follow_redirects=False,
    )

    assert linked.status_code == 303
    assert linked.headers["location"] == f"/workbench/review/{queue.near}"
    assert _owner(pair.record_pk_r) == left
    assert _pair(queue.near).status == "linked"
    page = client.get(f"/workbench/review/{queue.near}").text
    assert 'id="undo-decision"' in page and 'id="link-pair"' not in page
    assert "doctor 已判定：是同一个人" in page
    assert "两条记录目前属于同一个人" in page
    merged = client.get(f"/workbench/persons/{left}").text
    assert set(_record_pks(merged)) == {pair.record_pk_l, pair.record_pk_r}

    undone = client.post(
        f"/workbench/review/{queue.near}/undo", data={"csrf_token": token}, follow_redirects=False
    )

    assert undone.status_code == 303
    assert _owner(pair.record_pk_r) == right
    assert _pair(queue.near).status == "open"
    assert _record_pks(client.get(f"/workbench/persons/{left}").text) == [pair.record_pk_l]
    assert {"review_link", "review_undo"} <= set(_actions("doctor"))


def test_separating_a_pair_of_one_person_splits_it_and_undo_rejoins(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    pair = _pair(queue.same)
    person = _owner(pair.record_pk_l)
    assert _owner(pair.record_pk_r) == person
    token = _csrf(client.get(f"/workbench/review/{queue.same}").text)

    client.post(
        f"/workbench/review/{queue.same}/decision",
        data={"decision": "separate", "csrf_token": token},
    )

    split_off = _owner(pair.record_pk_r)
    assert split_off != person
    assert _owner(pair.record_pk_l) == person
    page = client.get(f"/workbench/review/{queue.same}").text
    assert "记录二已拆分为一个新的人员档案" in page

    client.post(f"/workbench/review/{queue.same}/undo", data={"csrf_token": token})

    assert _owner(pair.record_pk_r) == person


def test_deciding_twice_shows_a_conflict_and_changes_nothing(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    pair = _pair(queue.near)
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)
    client.post(
        f"/workbench/review/{queue.near}/decision", data={"decision": "link", "csrf_token": token}
    )
    owner_after_link = _owner(pair.record_pk_r)

    again = client.post(
        f"/workbench/review/{queue.near}/decision",
        data={"decision": "separate", "csrf_token": token},
    )

    assert again.status_code == 409
    assert 'id="conflict"' in again.text
    assert f'href="/workbench/review/{queue.near}"' in again.text
    assert _pair(queue.near).status == "linked"
    assert _owner(pair.record_pk_r) == owner_after_link


def test_an_unknown_decision_is_a_malformed_request(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)

    response = client.post(
        f"/workbench/review/{queue.near}/decision", data={"decision": "maybe", "csrf_token": token}
    )

    assert response.status_code == 422
    assert _pair(queue.near).status == "open"


# --- a person's page -----------------------------------------------------------------------------


def test_person_page_shows_the_golden_record_and_every_source_record(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    person = _person_of_p1()

    response = client.get(f"/workbench/persons/{person}")

    page = response.text
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert "<h1>欧阳明华</h1>" in page
    assert len(_record_pks(page)) == 2
    assert "公安人口登记 · P1" in page and "电子健康档案 · E1" in page
    assert page.count('class="button separate-record"') == 2
    assert "read_person" in _actions("doctor")


def test_a_person_with_one_record_cannot_be_split_further(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    with session_scope() as session:
        only = _pk(session, "P2")
    person = _owner(only)
    page = client.get(f"/workbench/persons/{person}").text

    token = _csrf(client.get(f"/workbench/persons/{_person_of_p1()}").text)

    refused = client.post(
        f"/workbench/persons/{person}/records/{only}/separate", data={"csrf_token": token}
    )

    assert "separate-record" not in page
    assert refused.status_code == 409
    assert _owner(only) == person


def test_separate_a_record_from_a_person_then_unmerge(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    person = _person_of_p1()
    with session_scope() as session:
        police, clinic = _pk(session, "P1"), _pk(session, "E1")
    token = _csrf(client.get(f"/workbench/persons/{person}").text)

    separated = client.post(
        f"/workbench/persons/{person}/records/{clinic}/separate",
        data={"csrf_token": token},
        follow_redirects=False,
    )

    assert separated.status_code == 303
    location = separated.headers["location"]
    assert location.startswith(f"/workbench/persons/{person}?separated=")
    page = client.get(location).text
    assert _record_pks(page) == [police]
    assert "记录 E1 已从该人员拆分" in page
    new_person = re.search(r'id="split-person" href="/workbench/persons/(\w+)"', page).group(1)
    assert new_person != person and _owner(clinic) == new_person
    assert _record_pks(client.get(f"/workbench/persons/{new_person}").text) == [clinic]
    pair_id = re.search(r'action="/workbench/review/(\w+)/undo"', page).group(1)
    assert _pair(pair_id).status == "separated"

    unmerged = client.post(
        f"/workbench/review/{pair_id}/undo",
        data={"csrf_token": token, "next": f"/workbench/persons/{person}?undone=true"},
        follow_redirects=False,
    )

    assert unmerged.status_code == 303
    assert unmerged.headers["location"] == f"/workbench/persons/{person}?undone=true"
    restored = client.get(unmerged.headers["location"]).text
    assert sorted(_record_pks(restored)) == sorted([police, clinic])
    assert "已撤销：该记录已回到此人员名下" in restored
    assert _owner(clinic) == person
    # The old notice link no longer offers an undo once the split is gone.
    assert 'id="unmerge"' not in client.get(location).text


def test_undo_never_redirects_off_the_site(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    token = _csrf(client.get(f"/workbench/review/{queue.near}").text)
    client.post(
        f"/workbench/review/{queue.near}/decision", data={"decision": "link", "csrf_token": token}
    )

    response = client.post(
        f"/workbench/review/{queue.near}/undo",
        data={"csrf_token": token, "next": "//evil.example/"},
        follow_redirects=False,
    )

    assert response.headers["location"] == f"/workbench/review/{queue.near}"


def test_a_person_of_another_district_is_not_found(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    with session_scope() as session:
        jiangnan_record = _pk(session, "P4")
    person = _owner(jiangnan_record)
    token = _csrf(client.get(f"/workbench/persons/{_person_of_p1()}").text)

    page = client.get(f"/workbench/persons/{person}", headers={"Accept": "text/html"})
    separate = client.post(
        f"/workbench/persons/{person}/records/{jiangnan_record}/separate",
        data={"csrf_token": token},
    )

    assert page.status_code == 404 and "上官丽娟" not in page.text
    assert separate.status_code == 404
    assert _owner(jiangnan_record) == person
    assert client.get("/workbench/persons/Pnosuchperson").status_code == 404


def test_a_record_of_another_person_cannot_be_separated_from_this_one(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    person = _person_of_p1()
    with session_scope() as session:
        other = _pk(session, "P2")
    token = _csrf(client.get(f"/workbench/persons/{person}").text)

    response = client.post(
        f"/workbench/persons/{person}/records/{other}/separate", data={"csrf_token": token}
    )

    assert response.status_code == 404
    assert _owner(other) != person


# --- who may do what -----------------------------------------------------------------------------


def test_forms_without_this_session_s_token_are_refused(
    client: TestClient, queue: Queue, signed_in
):
    signed_in("doctor")
    person = _person_of_p1()
    with session_scope() as session:
        clinic = _pk(session, "E1")

    missing = client.post(f"/workbench/review/{queue.near}/decision", data={"decision": "link"})
    forged = client.post(
        f"/workbench/review/{queue.near}/decision",
        data={"decision": "link", "csrf_token": "0" * 64},
    )
    split = client.post(
        f"/workbench/persons/{person}/records/{clinic}/separate", data={"csrf_token": "x"}
    )

    assert missing.status_code == forged.status_code == split.status_code == 403
    assert missing.json()["type"] == "/problems/csrf-token"
    assert _pair(queue.near).status == "open"
    assert _owner(clinic) == person


def test_a_token_from_another_session_is_refused(client: TestClient, queue: Queue, signed_in):
    signed_in("doctor")
    doctors = _csrf(client.get(f"/workbench/review/{queue.near}").text)
    signed_in("baiyun_official")  # another user's session in the same browser

    officials = _csrf(client.get(f"/workbench/review/{queue.near}").text)
    stale = client.post(
        f"/workbench/review/{queue.near}/decision", data={"decision": "link", "csrf_token": doctors}
    )

    assert doctors != officials
    assert stale.status_code == 403
    assert _pair(queue.near).status == "open"


@pytest.fixture
def vaccinator(client: TestClient, queue: Queue) -> TestClient:
    """Signed in as a vaccinator of 白云区: a workbench user who is not a reviewer."""
    with session_scope() as session:
        create_user(session, "vaccinator", "vaccinator", PASSWORD, "449901")
    assert login(client, "vaccinator").status_code == 303
    return client


def test_a_vaccinator_may_read_a_person_but_not_review(vaccinator: TestClient, queue: Queue):
    person = _person_of_p1()
    with session_scope() as session:
        clinic = _pk(session, "E1")

    person_page = vaccinator.get(f"/workbench/persons/{person}")
    queue_page = vaccinator.get("/workbench/review")
    pair_page = vaccinator.get(f"/workbench/review/{queue.near}")
    workbench = vaccinator.get("/workbench").text
    decision = vaccinator.post(
        f"/workbench/review/{queue.near}/decision", data={"decision": "link"}
    )
    split = vaccinator.post(f"/workbench/persons/{person}/records/{clinic}/separate")

    assert person_page.status_code == 200 and len(_record_pks(person_page.text)) == 2
    assert "separate-record" not in person_page.text
    assert 'id="review-link"' not in workbench
    assert queue_page.status_code == pair_page.status_code == 403
    assert "您的角色无权访问此页面" in queue_page.text
    assert decision.status_code == split.status_code == 403
    assert _pair(queue.near).status == "open"
    assert _owner(clinic) == person


def test_residents_cannot_open_review_or_person_pages(client: TestClient, queue: Queue, signed_in):
    signed_in("resident")

    assert client.get("/workbench/review").status_code == 403
    assert client.get(f"/workbench/review/{queue.near}").status_code == 403
    assert client.get(f"/workbench/persons/{_person_of_p1()}").status_code == 403


@pytest.mark.parametrize(
    "path", ["/workbench/review", "/workbench/review/Vany", "/workbench/persons/Pany"]
)
def test_signed_out_review_pages_go_to_login(client: TestClient, queue: Queue, path):
    response = client.get(path, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=" + path


def test_a_signed_out_post_changes_nothing(client: TestClient, queue: Queue):
    response = client.post(
        f"/workbench/review/{queue.near}/decision",
        data={"decision": "link", "csrf_token": "0" * 64},
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert _pair(queue.near).status == "open"


# --- what the pages compute, without a database --------------------------------------------------


def test_waterfall_bars_start_where_the_previous_ended():
    bars = [
        {"comparison": "prior", "level": "", "weight": -6.0},
        {"comparison": "phone", "level": "exact", "weight": 8.0},
        {"comparison": "name", "level": "different", "weight": -1.0},
        {"comparison": "total", "level": "p = 0.7", "weight": 1.0},
    ]

    chart = waterfall_rows(bars, "en")

    # The axis runs from -6 (lowest running total) to +2 (highest): 8 units, zero at 75 %.
    assert chart["zero"] == 75.0
    rows = chart["rows"]
    assert [(r["left"], r["width"], r["kind"]) for r in rows] == [
        (0.0, 75.0, "against"),  # 0 → -6
        (0.0, 100.0, "for"),  # -6 → +2
        (87.5, 12.5, "against"),  # +2 → +1
        (75.0, 12.5, "total"),  # 0 → +1
    ]
    assert rows[0]["label"] == "Prior (before any evidence)" and rows[1]["label"] == "Phone"


def test_a_zero_weight_still_draws_a_sliver():
    chart = waterfall_rows(
        [
            {"comparison": "prior", "level": "", "weight": 0.0},
            {"comparison": "total", "level": "", "weight": 0.0},
        ],
        "zh_Hans_CN",
    )

    assert [r["width"] for r in chart["rows"]] == [0.5, 0.5]
    assert chart["rows"][0]["label"] == "先验权重（未计入任何证据）"


def _view(**values: str) -> RecordView:
    base = dict.fromkeys(
        ("source", "record_id", "name", "id_number", "sex", "birth_date", "phone", "address"),
        "",
    )
    base["community"] = ""
    return RecordView(pk="R", source="police", values={**base, **values}, id_valid=True)


def test_compare_marks_disagreements_and_one_sided_fields():
    left = _view(source="公安", record_id="1", name="张伟", phone="13800138000", sex="男")
    right = _view(source="医院", record_id="2", name="张玮", sex="男")

    states = {row.key: row.state for row in compare(left, right, "zh_Hans_CN")}

    assert states["name"] == "differs"
    assert states["phone"] == "missing"
    assert states["sex"] == "same"
    assert states["address"] == "same"  # empty on both sides says nothing
    assert states["source"] == states["record_id"] == "same"
