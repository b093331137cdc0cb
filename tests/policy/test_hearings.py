"""Hearings on draft policies (R-PL-4) over the API, on SQLite and PostgreSQL: opening on a
checked draft, one opinion per resident of the consulted area, offline opinions with their
channel, not adopted only with a reason, closing only when all are answered, the public result
without authors, every step audited; and migration 0021 against the models."""

from __future__ import annotations

from datetime import timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import inspect, select

from carematch.core.clock import city_today
from carematch.core.db import Base, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from carematch.policy.governance_errors import HearingInputRejected, ReasonRequired
from carematch.policy.hearings import anonymised, check_decision, clean_text
from carematch.policy.library import default_library
from carematch.security.models import AuditEntry
from carematch.security.service import create_user
from tests.fixtures.people import PASSWORD, build_two_districts, token

TABLES = {"policy_hearings", "hearing_opinions", "policy_budgets"}


def _diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models_and_0021_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert _diff() == []
    config = alembic_config()
    command.downgrade(config, "0020")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert _diff() == []


def _draft(**changes) -> dict:
    policy = default_library()["P-ELDER-FLU"].as_dict()
    policy.update(id="P-DRAFT-FLU", title="老年人流感疫苗免费接种（扩大范围征求意见稿）")
    policy["eligibility"] = "age >= 55"
    policy.update(changes)
    return policy


def _world(tmp_path):
    people = build_two_districts(tmp_path)
    with session_scope() as session:
        create_user(session, "me_d1", "resident", PASSWORD, person_id=people.person_d1)
        create_user(session, "me_d2", "resident", PASSWORD, person_id=people.person_d2)
    return people


def _open(client, headers, **body):
    payload = {
        "definition": _draft(),
        "closes_on": (city_today() + timedelta(days=14)).isoformat(),
        "summary": "拟将免费流感疫苗接种年龄从60岁降至55岁。",
        **body,
    }
    return client.post("/api/v1/hearings", json=payload, headers=headers)


def test_a_hearing_from_opening_to_its_published_result(client, tmp_path):
    _world(tmp_path)
    official = token(client, "official_d1")
    resident, other_district = token(client, "me_d1"), token(client, "me_d2")

    nul_title = _open(client, official, definition=_draft(title="草案\x00"), summary="\x00")
    assert nul_title.status_code == 201 and nul_title.json()["title"] == "草案"
    opened = _open(client, official)
    assert opened.status_code == 201, opened.text
    hearing = opened.json()
    assert hearing["region_code"] == "449901" and hearing["status"] == "open"
    assert hearing["draft"]["eligibility"] == "age >= 55"
    url = f"/api/v1/hearings/{hearing['id']}"

    mine = client.post(
        f"{url}/opinions",
        json={"text": "支持！我母亲57岁，电话13812345678，希望尽快实施。"},
        headers=resident,
    )
    again = client.post(f"{url}/opinions", json={"text": "再说一次"}, headers=resident)
    elsewhere = client.post(f"{url}/opinions", json={"text": "我也想说"}, headers=other_district)
    offline = client.post(
        f"{url}/opinions",
        json={"text": "座谈会：担心疫苗数量不够。", "channel": "meeting"},
        headers=official,
    )
    no_channel = client.post(f"{url}/opinions", json={"text": "电话意见"}, headers=official)
    assert mine.status_code == 201, mine.text
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/opinion-already-given"
    assert elsewhere.status_code == 403
    assert offline.status_code == 201 and offline.json()["channel"] == "meeting"
    assert no_channel.status_code == 400

    early = client.post(f"{url}/close", headers=official)
    assert early.status_code == 409
    assert early.json()["unanswered"] == [1, 2]

    first, second = mine.json()["id"], offline.json()["id"]
    no_reason = client.post(
        f"{url}/opinions/{second}/decision", json={"decision": "not_adopted"}, headers=official
    )
    blank_reason = client.post(
        f"{url}/opinions/{second}/decision",
        json={"decision": "not_adopted", "reason": "  \u200b "},
        headers=official,
    )
    outsider = client.post(
        f"{url}/opinions/{first}/decision",
        json={"decision": "adopted"},
        headers=token(client, "official_d2"),
    )
    assert no_reason.status_code == 400
    assert no_reason.json()["type"] == "/problems/reason-required"
    assert blank_reason.status_code == 400
    assert outsider.status_code == 404
    assert (
        client.post(
            f"{url}/opinions/{first}/decision", json={"decision": "adopted"}, headers=official
        ).status_code
        == 200
    )
    refused = client.post(
        f"{url}/opinions/{second}/decision",
        json={"decision": "not_adopted", "reason": "疫苗按常住人口足额采购，数量有保障。"},
        headers=official,
    )
    assert refused.status_code == 200, refused.text

    before_close = client.get(url).json()
    closed = client.post(f"{url}/close", headers=official)
    late = client.post(f"{url}/opinions", json={"text": "晚了"}, headers=other_district)
    result = client.get(url)

    assert before_close["opinions"] == []  # published only once closed
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert late.status_code in (403, 409)
    body = result.json()
    assert body["hearing"]["counts"] == {
        "opinions": 2,
        "adopted": 1,
        "not_adopted": 1,
        "unanswered": 0,
    }
    assert [(o["seq"], o["channel"], o["decision"]) for o in body["opinions"]] == [
        (1, "portal", "adopted"),
        (2, "meeting", "not_adopted"),
    ]
    assert body["opinions"][1]["reason"] == "疫苗按常住人口足额采购，数量有保障。"
    assert "13812345678" not in result.text and "***" in body["opinions"][0]["text"]
    assert "me_d1" not in result.text and "submitted_by" not in body["opinions"][0]
    with session_scope() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.entity_id == hearing["id"])
            .order_by(AuditEntry.seq)
        ).all()
    assert actions == [
        "hearing_opened",
        "hearing_opinion_added",
        "hearing_opinion_added",
        "hearing_opinion_decided",
        "hearing_opinion_decided",
        "hearing_closed",
    ]


def test_bad_drafts_periods_and_opinions_are_refused_clearly(sqlite_client, tmp_path):
    client = sqlite_client
    _world(tmp_path)
    official, resident = token(client, "official_d1"), token(client, "me_d1")

    bad_rule = _open(client, official, definition=_draft(eligibility="agee >= 55"))
    past = _open(client, official, closes_on=(city_today() - timedelta(days=1)).isoformat())
    other_area = _open(client, official, region="449902")
    assert bad_rule.status_code == 400
    assert bad_rule.json()["errors"][0]["policy"] == "P-DRAFT-FLU"
    assert bad_rule.json()["errors"][0]["field"] == "eligibility"
    assert past.status_code == 400 and "must close" in past.json()["detail"]
    assert other_area.status_code == 400
    assert (
        client.post(
            "/api/v1/hearings", json={"definition": _draft(), "closes_on": "soon"}, headers=official
        ).status_code
        == 422
    )
    assert _open(client, resident).status_code == 403

    url = f"/api/v1/hearings/{_open(client, official).json()['id']}"
    for text, status in [("", 400), ("\x00\x01", 400), ("长" * 2001, 400), ("长" * 5000, 422)]:
        answer = client.post(f"{url}/opinions", json={"text": text}, headers=resident)
        assert answer.status_code == status, (text[:5], answer.text)
    assert client.post(f"{url}/opinions", json={"text": 5}, headers=resident).status_code == 422
    assert client.get("/api/v1/hearings/nope").status_code == 404
    listed = client.get("/api/v1/hearings?status=open").json()
    assert listed["total"] == 1 and listed["items"][0]["counts"]["opinions"] == 0


@given(st.text(max_size=300))
def test_clean_text_never_fails_unexpectedly_and_keeps_no_control_characters(raw):
    try:
        cleaned = clean_text(raw, "the opinion", 200)
    except HearingInputRejected:
        return
    assert cleaned and len(cleaned) <= 200
    assert all(ch in "\n\t" or ord(ch) >= 32 for ch in cleaned)
    assert cleaned == cleaned.strip()


@given(st.sampled_from(["adopted", "not_adopted"]), st.one_of(st.none(), st.text(max_size=50)))
def test_not_adopted_always_carries_a_reason(decision, reason):
    try:
        chosen, why = check_decision(decision, reason)
    except ReasonRequired:
        assert decision == "not_adopted"
        return
    assert chosen == decision
    if decision == "not_adopted":
        assert why and why.strip()


def test_identifying_numbers_and_addresses_are_masked():
    text = "我的电话是13812345678，身份证44990119580520011X，邮箱a.b@example.cn，今年57岁"
    assert anonymised(text) == "我的电话是***，身份证***，邮箱***，今年57岁"
