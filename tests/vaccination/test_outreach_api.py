"""Outreach to lapsed children: contact outcomes, the catch-up reminder, the lapse summary."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from carematch.providers.hours import CITY_TZ
from carematch.vaccination.outreach import reminder_time
from tests.fixtures.people import D1, token
from tests.vaccination.test_prescreen_api import app_client, build_world

URL = "/api/v1/vaccination/outreach"


@pytest.fixture
def api(sqlite_env):
    """The app on a fresh SQLite installation."""
    yield from app_client()


def test_will_come_reminds_three_days_later_at_nine(api, tmp_path):
    world = build_world(tmp_path)
    staff = token(api, "vaccinator_d1")
    made = api.post(
        f"{URL}/contacts",
        json={"person_id": world.child, "outcome": "will_come", "reason": "forgot"},
        headers=staff,
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["doses_overdue"] > 0
    remind = datetime.fromisoformat(body["remind_at"].replace("Z", "+00:00")).astimezone(CITY_TZ)
    contacted = datetime.fromisoformat(body["contacted_at"].replace("Z", "+00:00"))
    assert (remind.date() - contacted.astimezone(CITY_TZ).date()).days == 3
    assert (remind.hour, remind.minute) == (9, 0)
    with session_scope() as session:
        messages = session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "vaccination_outreach")
        ).all()
    assert [(m.recipient_id, m.dedupe_key) for m in messages] == [
        (world.child, f"vaccination-outreach:{body['id']}")
    ]

    refused = api.post(
        f"{URL}/contacts",
        json={"person_id": world.child, "outcome": "refused", "reason": "fear_of_reactions"},
        headers=staff,
    ).json()
    assert refused["remind_at"] is None


def test_lapse_summary_counts_each_child_by_latest_contact(api, tmp_path):
    world = build_world(tmp_path)
    staff = token(api, "vaccinator_d1")
    for outcome, reason in [("unreachable", None), ("will_come", "work_hours")]:
        response = api.post(
            f"{URL}/contacts",
            json={"person_id": world.child, "outcome": outcome, "reason": reason},
            headers=staff,
        )
        assert response.status_code == 201
    summary = api.get(f"{URL}/lapse-reasons", headers=staff).json()
    assert summary == [
        {
            "community_code": f"{D1}001001",
            "children": 1,
            "reasons": {"work_hours": 1},
            "outcomes": {"will_come": 1},
        }
    ]
    other = token(api, "vaccinator_d2")
    assert api.get(f"{URL}/lapse-reasons", headers=other).json() == []

    contact = f"{URL}/contacts"
    hidden = api.post(contact, json={"person_id": world.child, "outcome": "reached"}, headers=other)
    assert hidden.status_code == 404
    adult = {"person_id": world.adult_d1, "outcome": "reached"}
    assert api.post(contact, json=adult, headers=staff).status_code == 409  # nothing overdue
    bad = {"person_id": world.child, "outcome": "maybe"}
    assert api.post(contact, json=bad, headers=staff).status_code == 422


def test_only_will_come_schedules_a_reminder():
    at = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 city time, still 1 March
    assert reminder_time("will_come", at) == datetime(2026, 3, 4, 1, 0, tzinfo=UTC)
    assert reminder_time("refused", at) is None
