"""Doses administered: the lot checks (409 each), the logged event, the forecast that counts the
dose, the 30-minute observation page and its release, and the roles."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from carematch.coldchain import repository
from carematch.core.db import session_scope
from carematch.providers.hours import CITY_TZ
from carematch.security.authz import TOKEN_COOKIE
from tests.coldchain.world import add_lot, bearer, build_world

URL = "/api/v1/vaccination/administrations"


@pytest.fixture
def api(sqlite_env, tmp_path):
    from carematch.api.app import create_app

    world = build_world(tmp_path)
    with TestClient(create_app()) as client:
        yield client, world


def _dose(world, lot_id: str, key: str = "a", **extra) -> dict:
    return {
        "person_id": world.persons[key],
        "lot_id": lot_id,
        "series": "HepB",
        "dose_number": 1,
        "site": "right_thigh",
        **extra,
    }


def test_unusable_lots_are_refused_with_a_409_saying_why(api):
    client, world = api
    today = datetime.now(UTC).date()
    with session_scope() as session:
        expired = add_lot(session, lot_number="OLD", expiry=today - timedelta(days=2)).id
        vvm3 = add_lot(session, lot_number="VVM3", vvm_stage=3).id
        recalled = add_lot(session, lot_number="RC").id
        mmr = add_lot(session, lot_number="MMR1", product="MMR").id
    off = client.post(
        f"/api/v1/coldchain/lots/{recalled}/recall",
        headers=bearer("official_d1"),
        json={"reason": "manufacturer notice"},
    )
    assert off.status_code == 200 and off.json()["status"] == "recalled"
    for lot_id, word in [
        (expired, "expired"),
        (vvm3, "stage 3"),
        (recalled, "recalled"),
        (mmr, "MMR"),
    ]:
        answer = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, lot_id))
        assert answer.status_code == 409, answer.text
        assert word in answer.json()["detail"]
    with session_scope() as session:
        kinds = [e.kind for e in repository.events(session)]
    assert "administered" not in kinds


def test_a_dose_is_logged_counted_by_the_forecast_and_watched_for_30_minutes(api):
    client, world = api
    with session_scope() as session:
        lot_id = add_lot(session).id
    before = client.get(
        f"/api/v1/persons/{world.persons['a']}/vaccination-forecast", headers=bearer("doctor_d1")
    ).json()
    hepb = next(e for e in before["forecast"] if e["series"] == "HepB")
    assert hepb["dose"] == 1

    made = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, lot_id))
    assert made.status_code == 201, made.text
    body = made.json()
    given = datetime.fromisoformat(body["administered_at"])
    assert datetime.fromisoformat(body["observe_until"]) - given == timedelta(minutes=30)
    with session_scope() as session:
        event = repository.event_at(session, body["event_index"])
        leaf = json.loads(event.leaf)
    assert leaf["kind"] == "administered" and leaf["detail"]["administration_id"] == body["id"]
    assert world.persons["a"] not in event.leaf.decode()  # the public log names no person

    # A dose counts on the city's calendar day (UTC+8); the forecast is asked as of that day.
    city_day = given.astimezone(CITY_TZ).date().isoformat()
    after = client.get(
        f"/api/v1/persons/{world.persons['a']}/vaccination-forecast",
        params={"as_of": city_day},
        headers=bearer("doctor_d1"),
    ).json()
    assert next(e for e in after["forecast"] if e["series"] == "HepB")["dose"] == 2

    again = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, lot_id))
    assert again.status_code == 409
    mine = client.get(URL, params={"person_id": world.persons["a"]}, headers=bearer("resident_a"))
    assert [a["id"] for a in mine.json()["items"]] == [body["id"]]
    other = client.get(URL, params={"person_id": world.persons["b"]}, headers=bearer("resident_a"))
    assert other.status_code == 404


def test_roles_and_jurisdiction(api):
    client, world = api
    with session_scope() as session:
        lot_id = add_lot(session).id
    assert client.post(URL, headers=bearer("grid_d1"), json=_dose(world, lot_id)).status_code == 403
    assert (
        client.post(URL, headers=bearer("resident_a"), json=_dose(world, lot_id)).status_code == 403
    )
    # A vaccinator of district 2 sees neither the district-1 lot nor the person.
    outside = client.post(URL, headers=bearer("vaccinator_d2"), json=_dose(world, lot_id))
    assert outside.status_code == 404
    bad = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, lot_id, site="ear"))
    assert bad.status_code == 400
    late = _dose(world, lot_id, administered_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    assert client.post(URL, headers=bearer("vaccinator_d1"), json=late).status_code == 400


def test_observation_page_counts_down_and_releases_without_script(api):
    client, world = api
    with session_scope() as session:
        lot_id = add_lot(session).id
    made = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, lot_id)).json()
    token = bearer("vaccinator_d1")["Authorization"].split(" ", 1)[1]
    client.cookies.set(TOKEN_COOKIE, token)
    page = client.get("/workbench/vaccination/observation?lang=en")
    assert page.status_code == 200
    assert f'id="obs-{made["id"]}"' in page.text
    assert "/static/js/observation.js" in page.text
    left = page.text.split('class="obs-left"', 1)[1].split(">", 1)[1].split("<", 1)[0]
    minutes, seconds = left.split(":")
    assert 28 <= int(minutes) <= 29 or (int(minutes) == 30 and seconds == "00")

    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert csrf
    refused = client.post(
        f"/workbench/vaccination/observation/{made['id']}/release",
        data={"csrf_token": "wrong"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    done = client.post(
        f"/workbench/vaccination/observation/{made['id']}/release",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code in (302, 303)
    page = client.get(done.headers["location"])
    assert f'id="obs-{made["id"]}"' not in page.text
    assert "Released." in page.text
    chinese = client.get("/workbench/vaccination/observation?lang=zh")  # the default language
    assert "接种后留观" in chinese.text and "目前没有留观人员" in chinese.text


def test_a_recorded_dose_enqueues_its_follow_up_reminders_and_a_refused_one_none(api):
    """The vaccine's follow-up advice (observation, day-1 check; for MMR the rash window)
    is enqueued with the dose, under keys that name the person, series and dose."""
    from sqlalchemy import select

    from carematch.notifications.models import OutboxMessage

    client, world = api
    today = datetime.now(UTC).date()
    with session_scope() as session:
        good = add_lot(session).id
        expired = add_lot(session, lot_number="OLD", expiry=today - timedelta(days=2)).id
    refused = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, expired, "b"))
    assert refused.status_code == 409
    made = client.post(URL, headers=bearer("vaccinator_d1"), json=_dose(world, good))
    assert made.status_code == 201, made.text
    with session_scope() as session:
        keys = set(
            session.scalars(
                select(OutboxMessage.dedupe_key).where(
                    OutboxMessage.dedupe_key.startswith("vaccination-followup:")
                )
            )
        )
    person = world.persons["a"]
    assert f"vaccination-followup:{person}:HepB:1:observation-30min" in keys
    assert f"vaccination-followup:{person}:HepB:1:day1-check" in keys
    assert not any("measles" in k or "bcg" in k for k in keys)  # not HepB's
    assert not any(world.persons["b"] in k for k in keys)  # nothing for the refused dose
