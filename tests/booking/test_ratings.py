"""Ratings on SQLite and PostgreSQL: the resident rates a recorded visit of their own or a
dependant's once, 1-5 with an encrypted comment; per provider and period for the feedback flag."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from carematch.booking import ratings, records, service
from carematch.booking.errors import (
    AlreadyRated,
    BookingNotFound,
    BookingStateConflict,
    RatingNotAllowed,
    ServiceRecordNotFound,
)
from carematch.booking.models import Rating, ServiceRecord
from carematch.core.db import session_scope
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from tests.booking.conftest import NOW, World, add_persons, add_slot, principal
from tests.booking.test_records import FOLLOWUP, booked_visit


def recorded_visit(world: World) -> tuple[str, str]:
    """A booked, checked-in and recorded visit of the resident's person: (booking, record)."""
    booking_id, _ = booked_visit(world)
    with session_scope() as session:
        record = records.write(
            session, principal(session, "doctor_d1"), booking_id=booking_id, summary="s", now=NOW
        ).record
        return booking_id, record.id


def test_the_resident_rates_their_visit_once(world: World):
    booking_id, record_id = recorded_visit(world)
    with session_scope() as session:
        rating = ratings.rate(
            session,
            principal(session, "resident1"),
            booking_id=booking_id,
            score=4,
            comment="医生很耐心",
        )
        assert rating.service_record_id == record_id
        assert rating.provider_id == world.provider_d1 and rating.visit_month == "2030-03"
        rating_id = rating.id
    with pytest.raises(AlreadyRated), session_scope() as session:
        ratings.rate(session, principal(session, "resident1"), service_record_id=record_id, score=1)
    with session_scope() as session:
        stored = session.get(Rating, rating_id)
        assert stored is not None and stored.score == 4 and stored.comment == "医生很耐心"
        raw = session.execute(
            text("SELECT comment FROM ratings WHERE id = :id"), {"id": rating_id}
        ).scalar_one()
        assert "耐心" not in raw


def test_a_guardian_rates_a_dependants_visit_but_nobody_elses(world: World):
    with session_scope() as session:
        (child,) = add_persons(session, 1)
        service.register_dependant(
            session,
            principal(session, "official_d1"),
            guardian_id=world.person_d1,
            dependant_id=child,
            relation="child",
        )
        doctor = principal(session, "doctor_d1")
        mine = records.write(
            session,
            doctor,
            person_id=child,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            summary="walk-in",
            now=NOW,
        ).record.id
        (stranger,) = add_persons(session, 1)
        theirs = records.write(
            session,
            doctor,
            person_id=stranger,
            provider_id=world.provider_d1,
            service=FOLLOWUP,
            summary="walk-in",
            now=NOW,
        ).record.id
    with session_scope() as session:
        resident = principal(session, "resident1")
        assert ratings.rate(session, resident, service_record_id=mine, score=5).person_id == child
    with pytest.raises(ServiceRecordNotFound), session_scope() as session:
        ratings.rate(session, principal(session, "resident1"), service_record_id=theirs, score=5)


def test_staff_do_not_rate_and_a_visit_not_yet_recorded_cannot_be_rated(world: World):
    booking_id, _ = booked_visit(world)
    with pytest.raises(BookingStateConflict), session_scope() as session:
        ratings.rate(session, principal(session, "resident1"), booking_id=booking_id, score=3)
    for user in ("doctor_d1", "official_d1", "admin1"):
        with pytest.raises(RatingNotAllowed), session_scope() as session:
            ratings.rate(session, principal(session, user), booking_id=booking_id, score=3)


def test_another_persons_booking_is_not_found(world: World):
    with session_scope() as session:
        slot = add_slot(
            session, world.provider_d2, service=FOLLOWUP, start=NOW + timedelta(hours=1)
        )
        booked = service.book(
            session,
            principal(session, "official_d2"),
            slot_id=slot,
            person_id=world.person_d2,
            now=NOW,
        )
    with pytest.raises(BookingNotFound), session_scope() as session:
        ratings.rate(
            session, principal(session, "resident1"), booking_id=booked.view.booking.id, score=2
        )


@pytest.mark.parametrize(
    "request_",
    [
        {"score": 0},
        {"score": 6},
        {"score": True},
        {"score": 3, "comment": "x" * 1001},
        {"score": 3, "comment": "bad\x00byte"},
        {"score": 3, "both": True},
        {"score": 3, "neither": True},
    ],
)
def test_malformed_ratings_are_refused(world: World, request_):
    booking_id, record_id = recorded_visit(world)
    args = {"score": request_["score"], "comment": request_.get("comment")}
    if request_.get("both"):
        args.update(booking_id=booking_id, service_record_id=record_id)
    elif not request_.get("neither"):
        args.update(booking_id=booking_id)
    with pytest.raises(InvalidInput), session_scope() as session:
        ratings.rate(session, principal(session, "resident1"), **args)


def _insert_ratings(world: World, rows: list[tuple[str, date, int]]) -> None:
    """Visits and their ratings straight in the tables: (provider, visit day, score)."""
    with session_scope() as session:
        for provider_id, day, score in rows:
            at = datetime(day.year, day.month, day.day, 4, tzinfo=UTC)
            record = ServiceRecord(
                id=new_id(),
                person_id=world.person_d1,
                provider_id=provider_id,
                service=FOLLOWUP,
                region_code="449901001001",
                demand_ids="",
                performed_at=at,
                summary="s",
                outcome="resolved",
                recorded_by="test",
                recorded_at=at,
            )
            session.add(record)
            session.flush()
            session.add(
                Rating(
                    id=new_id(),
                    service_record_id=record.id,
                    person_id=world.person_d1,
                    provider_id=provider_id,
                    service=FOLLOWUP,
                    visit_month=f"{day:%Y-%m}",
                    score=score,
                    rated_by="resident1",
                    rated_at=at + timedelta(days=1),
                )
            )


@pytest.mark.parametrize("months", [1, 3])
def test_ratings_per_provider_and_period_weigh_every_rating_once(world: World, months: int):
    rng = random.Random(months)
    providers = [world.provider_d1, world.provider_d2]
    rows = [
        (
            rng.choice(providers),
            date(2030, 1, 1) + timedelta(days=rng.randrange(200)),
            rng.randint(1, 5),
        )
        for _ in range(60)
    ]
    _insert_ratings(world, rows)
    before = date(2030, 6, 15)
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for provider_id, day, score in rows:
        if day < date(2030, 6, 1):  # only whole months before June
            first = (day.month - 1) // months * months + 1
            expected[(provider_id, f"{day.year}-{first:02d}")].append(score)
    with session_scope() as session:
        found = ratings.ratings_by_provider_period(session, period_months=months, before=before)
    assert [(r.provider_id, r.period) for r in found] == sorted(expected)
    for r in found:
        scores = expected[(r.provider_id, r.period)]
        assert r.count == len(scores)
        assert r.mean == pytest.approx(sum(scores) / len(scores))


def test_month_totals_feed_the_feedback_flag_and_refuse_bad_months(world: World):
    _insert_ratings(world, [(world.provider_d1, date(2030, 1, 5), 2)] * 3)
    with session_scope() as session:
        assert ratings.rating_month_totals(session, before_month="2030-02") == [
            (world.provider_d1, "2030-01", 6, 3)
        ]
        assert ratings.rating_month_totals(session, since_month="2030-02") == []
        with pytest.raises(InvalidInput):
            ratings.rating_month_totals(session, before_month="2030-13")
        with pytest.raises(InvalidInput):
            ratings.ratings_by_provider_period(session, period_months=5)
