"""The workbench's "today" page (SQLite and PostgreSQL): today's appointments of the area, check-in
and the service-record form behind CSRF, and the tasks (follow-ups due, SLA breaches)."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from carematch.booking import clocks, records, service, sla
from carematch.booking.models import Booking
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.providers.hours import CITY_TZ
from carematch.security.authz import TOKEN_COOKIE
from carematch.security.models import User
from carematch.web.workbench import csrf as csrf_module
from tests.booking.conftest import World, add_slot, bearer, build_world, principal
from tests.booking.test_records import FOLLOWUP, add_demand, demand_status
from tests.fixtures.people import D1


@pytest.fixture
def web(client: TestClient) -> tuple[TestClient, World]:
    world = build_world()
    with session_scope() as session:
        session.execute(
            insert(User),
            [
                {
                    "id": new_id(),
                    "username": "grid_d1",
                    "password_hash": "!",
                    "role": "grid_worker",
                    "region_code": D1,
                    "active": True,
                },
                {
                    "id": new_id(),
                    "username": "doctor_d2",
                    "password_hash": "!",
                    "role": "doctor",
                    "region_code": "449902",
                    "active": True,
                },
            ],
        )
    return client, world


def sign_in(client: TestClient, username: str) -> TestClient:
    client.cookies.set(TOKEN_COOKIE, bearer(username)["Authorization"].split()[1])
    return client


def today_start() -> datetime:
    """A slot start that is today in the city and has begun at most 10 minutes ago."""
    now = datetime.now(UTC)
    midnight = datetime.combine(now.astimezone(CITY_TZ).date(), time(0), tzinfo=CITY_TZ)
    return max(now - timedelta(minutes=10), midnight.astimezone(UTC))


def booking_today(world: World, demand: str | None = None) -> str:
    with session_scope() as session:
        slot = add_slot(
            session, world.provider_d1, service=FOLLOWUP, start=today_start(), minutes=40
        )
        return service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot,
            person_id=world.person_d1,
            demand_id=demand,
        ).view.booking.id


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def status_of(booking_id: str) -> str:
    with session_scope() as session:
        row = session.get(Booking, booking_id)
        assert row is not None
        return row.status


def test_a_doctor_checks_in_and_records_a_visit_from_todays_page(web):
    client, world = web
    with session_scope() as session:
        demand = add_demand(session, world.person_d1)
    booking = booking_today(world, demand)
    sign_in(client, "doctor_d1")

    page = client.get("/workbench/today")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'data-booking="{booking}"' in page.text
    token = csrf(page.text)

    forged = client.post(f"/workbench/today/bookings/{booking}/check-in", data={})
    assert forged.status_code == 403 and status_of(booking) == "booked"
    checked = client.post(
        f"/workbench/today/bookings/{booking}/check-in",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert checked.status_code == 303 and status_of(booking) == "checked_in"

    form = client.get(f"/workbench/today/bookings/{booking}/record")
    assert form.status_code == 200 and 'id="record-form"' in form.text
    bad = client.post(
        f"/workbench/today/bookings/{booking}/record",
        data={"csrf_token": token, "summary": "x", "next_followup_on": "2001-01-01"},
    )
    assert bad.status_code == 400 and 'id="form-error"' in bad.text
    assert status_of(booking) == "checked_in"

    saved = client.post(
        f"/workbench/today/bookings/{booking}/record",
        data={
            "csrf_token": token,
            "summary": "测血压 148/90",
            "outcome": "follow_up",
            "next_followup_on": (datetime.now(CITY_TZ).date() + timedelta(days=3)).isoformat(),
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith("/workbench/today?recorded=")
    assert status_of(booking) == "completed"
    assert demand_status(demand) == "served"
    after = client.get(saved.headers["location"])
    assert 'id="recorded"' in after.text
    # The follow-up it set is a task of the week now.
    assert 'id="followups"' in after.text and world.person_d1 in after.text


def test_other_districts_and_other_roles_cannot_act(web):
    client, world = web
    booking = booking_today(world)
    sign_in(client, "doctor_d2")
    page = client.get("/workbench/today")
    assert page.status_code == 200 and booking not in page.text
    assert client.get(f"/workbench/today/bookings/{booking}/record").status_code == 404

    sign_in(client, "grid_d1")
    page = client.get("/workbench/today")
    assert page.status_code == 200 and booking in page.text
    assert "/check-in" not in page.text  # no button for a grid worker
    # Even with the session's own token (computed as the server does), the post is refused.
    cookie = client.cookies.get(TOKEN_COOKIE)
    assert cookie is not None
    token = hmac.new(cookie.encode(), csrf_module._LABEL, hashlib.sha256).hexdigest()
    refused = client.post(
        f"/workbench/today/bookings/{booking}/check-in", data={"csrf_token": token}
    )
    assert refused.status_code == 403 and status_of(booking) == "booked"

    client.cookies.clear()
    assert client.get("/workbench/today", follow_redirects=False).status_code == 303


def test_a_walk_in_is_recorded_from_the_form_and_a_typo_comes_back_to_it(web):
    client, world = web
    sign_in(client, "doctor_d1")
    form = client.get(
        "/workbench/today/walk-in",
        params={
            "person_id": world.person_d1,
            "provider_id": world.provider_d1,
            "service": FOLLOWUP,
        },
    )
    assert form.status_code == 200
    token = csrf(form.text)
    typo = client.post(
        "/workbench/today/walk-in",
        data={
            "csrf_token": token,
            "person_id": "nobody",
            "provider_id": world.provider_d1,
            "service": FOLLOWUP,
        },
    )
    assert typo.status_code == 404 and 'id="form-error"' in typo.text
    saved = client.post(
        "/workbench/today/walk-in",
        data={
            "csrf_token": token,
            "person_id": world.person_d1,
            "provider_id": world.provider_d1,
            "service": FOLLOWUP,
            "summary": "家访",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with session_scope() as session:
        total, rows = records.list_records(
            session, principal(session, "doctor_d1"), limit=5, offset=0
        )
        assert total == 1 and rows[0].booking_id is None and rows[0].summary == "家访"


def test_a_breached_need_is_a_task_and_contact_answers_it(web):
    client, world = web
    raised_at = datetime.now(UTC) - timedelta(hours=30)
    with session_scope() as session:
        demand = add_demand(
            session, world.person_d1, first_seen_at=raised_at, community=f"{D1}001001"
        )
        clocks.sweep(session)
    sign_in(client, "doctor_d1")
    page = client.get("/workbench/today")
    clock_id = clocks.clock_id(sla.DEMAND_RESPONSE, demand)
    assert f'data-clock="{clock_id}"' in page.text
    done = client.post(
        f"/workbench/today/clocks/{clock_id}/contact",
        data={"csrf_token": csrf(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with session_scope() as session:
        row = clocks.visible_clock(session, principal(session, "doctor_d1"), clock_id)
        assert row.answer == "contact" and row.answered_by == "doctor_d1"
        assert clocks.state_of(row) is sla.ClockState.BREACHED  # late is still late
    assert f'data-clock="{clock_id}"' not in client.get("/workbench/today").text
