"""Vaccination appointments (R-VX-2): 15-minute slots, slots for due doses, dose bookings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select

from carematch.booking.models import Booking, Slot
from carematch.booking.service import as_utc, city_time, generate_slots
from carematch.core.db import session_scope
from carematch.providers.catalogue import service_catalogue
from carematch.vaccination.appointment_models import VaccinationAppointment
from carematch.vaccination.appointments import (
    VACCINATION_SERVICES,
    age_in_years,
    earliest_start,
    service_for,
)
from tests.booking.conftest import add_provider, bearer
from tests.fixtures.vaccination_world import World, at_city, build_world, city_today, slot

SLOTS_URL = "/api/v1/persons/{}/vaccination-slots"
BOOK_URL = "/api/v1/vaccination/appointments"


@pytest.fixture
def app_client(sqlite_env) -> Iterator[TestClient]:
    from carematch.api.app import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def world(sqlite_env, tmp_path) -> World:
    return build_world(tmp_path)


# --- 15-minute slots ----------------------------------------------------------------------------


def test_vaccination_services_are_cut_into_15_minute_slots_and_others_keep_their_length(
    sqlite_env,
):
    monday = date(2030, 3, 4)
    services = {"vaccination_child": 16, "vaccination_adult": 16, "chronic_followup": 12}
    with session_scope() as session:
        add_provider(
            session, "PRVV", "449901001001", services=services, hours=[(1, "08:00", "12:00")]
        )
    with session_scope() as session:
        generate_slots(session, days=1, first_day=monday)
    with session_scope() as session:
        slots = list(session.scalars(select(Slot).where(Slot.provider_id == "PRVV")))
    lengths: dict[str, set[int]] = {}
    for s in slots:
        minutes = int((as_utc(s.ends_at) - as_utc(s.starts_at)).total_seconds() // 60)
        lengths.setdefault(s.service, set()).add(minutes)
    catalogue = service_catalogue()
    assert lengths["vaccination_child"] == lengths["vaccination_adult"] == {15}
    # Other services keep their catalogue length (chronic follow-up: 20 minutes).
    assert lengths["chronic_followup"] == {catalogue["chronic_followup"].slot_minutes} == {20}
    # Four hours of 15-minute slots: 16 of them, one place each, from 08:00 city time.
    child = sorted(
        (s for s in slots if s.service == "vaccination_child"), key=lambda s: s.starts_at
    )
    assert len(child) == 16 and {s.capacity for s in child} == {1}
    assert city_time(child[0].starts_at).hour == 8
    assert all(catalogue[code].slot_minutes == 15 for code in VACCINATION_SERVICES)


def test_age_and_clinic_service():
    assert age_in_years(date(2012, 3, 1), date(2030, 2, 28)) == 17
    assert service_for(date(2012, 3, 1), date(2030, 2, 28)) == "vaccination_child"
    assert service_for(date(2012, 3, 1), date(2030, 3, 1)) == "vaccination_adult"


def test_earliest_start_is_the_due_days_city_midnight_or_now():
    now = at_city(date(2030, 3, 4), 9)
    assert earliest_start(date(2030, 3, 10), now) == at_city(date(2030, 3, 10), 0)
    assert earliest_start(date(2030, 3, 1), now) == now


# --- slots for the doses due ----------------------------------------------------------------------


def test_slots_are_offered_only_for_due_or_overdue_doses_from_their_due_date(world, app_client):
    today = city_today()
    before_mmr = slot("PRVD1", today + timedelta(days=1))
    after_mmr = slot("PRVD1", world.doses.mmr_due + timedelta(days=2))
    slot("PRVD1", today + timedelta(days=1), service="chronic_followup", minutes=20)
    slot("PRVD1", today + timedelta(days=1), service="vaccination_adult")
    slot("PRVD2", today + timedelta(days=1))  # another district
    full = slot("PRVD1", today + timedelta(days=2), capacity=1)
    with session_scope() as session:
        session.get(Slot, full).booked = 1  # type: ignore[union-attr]

    response = app_client.get(SLOTS_URL.format(world.child), headers=bearer("resident1"))

    assert response.status_code == 200, response.text
    doses = {d["series"]: d for d in response.json()["doses"]}
    # Worked out in child_doses: MMR 1 overdue but spaced after JE-L, DTaP 4 due, MPSV-A overdue.
    assert set(doses) == {"MMR", "DTaP", "MPSV-A"}
    assert (doses["MMR"]["status"], doses["MMR"]["dose"]) == ("overdue", 1)
    assert doses["MMR"]["due_date"] == world.doses.mmr_due.isoformat()
    assert (doses["DTaP"]["status"], doses["DTaP"]["dose"]) == ("due", 4)
    # MMR's slots start on or after its due date; the others' from now on. Only open slots of the
    # child service in the person's district are offered.
    assert [s["id"] for s in doses["MMR"]["slots"]] == [after_mmr]
    assert [s["id"] for s in doses["DTaP"]["slots"]] == [before_mmr, after_mmr]
    for dose in doses.values():
        assert dose["service"] == "vaccination_child"
        for s in dose["slots"]:
            assert date.fromisoformat(s["start"][:10]) >= date.fromisoformat(dose["due_date"])
            assert s["available"] > 0

    # With a location, the nearest providers' slots (both districts) with their distance.
    near = app_client.get(
        SLOTS_URL.format(world.child),
        params={"lat": 23.1, "lon": 113.3, "providers": 2},
        headers=bearer("resident1"),
    )
    assert near.status_code == 200, near.text
    dtap = next(d for d in near.json()["doses"] if d["series"] == "DTaP")
    assert {s["provider_id"] for s in dtap["slots"]} == {"PRVD1", "PRVD2"}
    assert all(s["distance_km"] is not None for s in dtap["slots"])


def test_who_may_ask_for_a_persons_dose_slots(world, app_client):
    # The resident for themselves and dependants; an adult has no due dose.
    own = app_client.get(SLOTS_URL.format(world.guardian), headers=bearer("resident1"))
    assert own.status_code == 200 and own.json()["doses"] == []
    # Someone else's child, another district's staff: 404, never 403 or 500.
    for user, person in (("resident1", world.adults[0]), ("official_d2", world.child)):
        response = app_client.get(SLOTS_URL.format(person), headers=bearer(user))
        assert response.status_code == 404, response.text
    # Grid workers do not see doses (health data).
    assert (
        app_client.get(SLOTS_URL.format(world.child), headers=bearer("grid_d1")).status_code == 403
    )
    bad = app_client.get(
        SLOTS_URL.format(world.child), params={"lat": 23.1}, headers=bearer("doctor_d1")
    )
    assert bad.status_code == 400
    assert app_client.get(SLOTS_URL.format("x%00y"), headers=bearer("doctor_d1")).status_code in (
        404,
        422,
    )


# --- booking a dose -------------------------------------------------------------------------------


def test_booking_a_dose_records_its_series_and_respects_the_due_date(world, app_client):
    today = city_today()
    early = slot("PRVD1", today + timedelta(days=1))
    later = slot("PRVD1", world.doses.mmr_due)
    chronic = slot("PRVD1", today + timedelta(days=1), service="chronic_followup", minutes=20)
    headers = bearer("resident1")

    def book(slot_id: str, series: str, **extra: str) -> Response:
        body = {"slot_id": slot_id, "person_id": world.child, "series": series}
        return app_client.post(BOOK_URL, json=body, headers={**headers, **extra})

    too_early = book(early, "MMR")
    assert too_early.status_code == 409
    assert too_early.json()["type"] == "/problems/slot-before-due-date"
    not_due = book(early, "HepB")  # complete
    assert (not_due.status_code, not_due.json()["type"]) == (409, "/problems/dose-not-due")
    assert book(early, "HepA-L").status_code == 409  # upcoming
    assert book(chronic, "DTaP").json()["type"] == "/problems/not-a-vaccination-slot"
    assert book(early, "Nope").status_code == 400
    assert book(early, "DTaP;drop").status_code == 422

    made = book(later, "MMR", **{"Idempotency-Key": "mmr-1"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["series"], body["dose"], body["booking"]["slot_id"]) == ("MMR", 1, later)
    again = book(later, "MMR", **{"Idempotency-Key": "mmr-1"})
    assert again.status_code == 201 and again.json()["id"] == body["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert book(early, "DTaP").status_code == 201

    # Queryable by series; one row per booking, one booking for the replayed request.
    listed = app_client.get(
        BOOK_URL, params={"person_id": world.child, "series": "MMR"}, headers=headers
    )
    assert listed.status_code == 200
    assert [i["id"] for i in listed.json()["items"]] == [body["id"]]
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(VaccinationAppointment)) == 2
        assert (
            session.scalar(
                select(func.count()).select_from(Booking).where(Booking.person_id == world.child)
            )
            == 2
        )
    # Another district's staff see neither the person nor the bookings.
    hidden = app_client.get(
        BOOK_URL, params={"person_id": world.child}, headers=bearer("official_d2")
    )
    assert hidden.status_code == 404


def test_a_dose_booking_never_overbooks(world, app_client):
    only = slot("PRVD1", city_today() + timedelta(days=1), capacity=1)
    first = app_client.post(
        BOOK_URL,
        json={"slot_id": only, "person_id": world.child, "series": "DTaP"},
        headers=bearer("resident1"),
    )
    second = app_client.post(
        BOOK_URL,
        json={"slot_id": only, "person_id": world.disabled_child, "series": "DTaP"},
        headers=bearer("resident1"),
    )
    assert first.status_code == 201 and second.status_code == 409
    assert second.json()["type"] == "/problems/slot-full"
    with session_scope() as session:
        held = session.get(Slot, only)
        assert held is not None and held.booked == held.capacity == 1
