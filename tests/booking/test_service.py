"""Booking use cases on SQLite and PostgreSQL: capacity, holding once, idempotency, the waitlist,
atomic reschedule, jurisdiction and who may book for whom."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from carematch.booking import service
from carematch.booking.errors import (
    AlreadyBooked,
    AlreadyWaiting,
    BookingDemandNotFound,
    BookingNotFound,
    BookingStateConflict,
    IdempotencyKeyReused,
    InvalidBooking,
    InvalidSlot,
    SlotClosed,
    SlotFull,
    SlotNotFound,
)
from carematch.booking.models import Booking, Slot
from carematch.core.db import session_factory, session_scope
from carematch.identity.errors import PersonNotFound
from carematch.profiling.models import Demand
from carematch.providers.errors import ProviderNotFound
from tests.booking.conftest import (
    NOW,
    OTHER_SERVICE,
    SERVICE,
    World,
    add_persons,
    add_slot,
    principal,
)


def booked_count(slot_id: str) -> int:
    with session_scope() as session:
        return session.get(Slot, slot_id).booked  # type: ignore[union-attr]


def holders(slot_id: str) -> int:
    with session_scope() as session:
        return (
            session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.slot_id == slot_id, Booking.status == "booked")
            )
            or 0
        )


def test_a_slot_takes_no_more_bookings_than_its_capacity(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=2)
        people = add_persons(session, 3)
    official = None
    outcomes = []
    for person in people:
        try:
            with session_scope() as session:
                official = principal(session, "official_d1")
                service.book(session, official, slot_id=slot, person_id=person, now=NOW)
            outcomes.append("booked")
        except SlotFull:
            outcomes.append("full")
    assert outcomes == ["booked", "booked", "full"]
    assert booked_count(slot) == holders(slot) == 2


def test_a_person_holds_a_slot_once_and_may_book_it_again_after_cancelling(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=5)
    with session_scope() as session:
        official = principal(session, "official_d1")
        first = service.book(session, official, slot_id=slot, person_id=world.person_d1, now=NOW)
    with pytest.raises(AlreadyBooked), session_scope() as session:
        service.book(session, official, slot_id=slot, person_id=world.person_d1, now=NOW)
    assert booked_count(slot) == 1
    with session_scope() as session:
        service.cancel(session, official, first.view.booking.id, now=NOW)
    with session_scope() as session:
        again = service.book(session, official, slot_id=slot, person_id=world.person_d1, now=NOW)
    assert again.view.booking.id != first.view.booking.id
    assert booked_count(slot) == 1


def test_the_same_idempotency_key_and_body_return_the_first_booking(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=5)
        other = add_slot(session, world.provider_d1, capacity=5, start=NOW + timedelta(days=2))
    with session_scope() as session:
        official = principal(session, "official_d1")
        first = service.book(
            session,
            official,
            slot_id=slot,
            person_id=world.person_d1,
            idempotency_key="k-1",
            now=NOW,
        )
    with session_scope() as session:
        retry = service.book(
            session,
            official,
            slot_id=slot,
            person_id=world.person_d1,
            idempotency_key="k-1",
            now=NOW,
        )
    assert retry.replayed and not first.replayed
    assert retry.view.booking.id == first.view.booking.id
    assert booked_count(slot) == 1
    # The same key with another body is refused, and takes no place.
    with pytest.raises(IdempotencyKeyReused), session_scope() as session:
        service.book(
            session,
            official,
            slot_id=other,
            person_id=world.person_d1,
            idempotency_key="k-1",
            now=NOW,
        )
    assert booked_count(other) == 0
    # Keys belong to the user who sent them: another user's "k-1" is a new request.
    with session_scope() as session:
        admin = principal(session, "admin1")
        theirs = service.book(
            session, admin, slot_id=other, person_id=world.person_d1, idempotency_key="k-1", now=NOW
        )
    assert not theirs.replayed and booked_count(other) == 1


def test_a_cancelled_place_goes_to_the_first_person_on_the_waitlist(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=1)
        first, second, third = add_persons(session, 3)
    with session_scope() as session:
        official = principal(session, "official_d1")
        taken = service.book(session, official, slot_id=slot, person_id=first, now=NOW)
    with session_scope() as session:
        waiting = service.join_waitlist(session, official, slot_id=slot, person_id=second, now=NOW)
    with session_scope() as session:
        later = service.join_waitlist(
            session, official, slot_id=slot, person_id=third, now=NOW + timedelta(seconds=1)
        )
    assert waiting.entry.status == later.entry.status == "waiting"
    with pytest.raises(AlreadyWaiting), session_scope() as session:
        service.join_waitlist(session, official, slot_id=slot, person_id=second, now=NOW)

    with session_scope() as session:
        service.cancel(session, official, taken.view.booking.id, now=NOW)

    with session_scope() as session:
        _, entries = service.list_waitlist(session, official, limit=10, offset=0, slot_id=slot)
        by_person = {e.entry.person_id: e.entry for e in entries}
        _, bookings = service.list_bookings(session, official, limit=10, offset=0, slot_id=slot)
    assert by_person[second].status == "booked"
    assert by_person[third].status == "waiting"
    live = [v.booking for v in bookings if v.booking.status == "booked"]
    assert [(b.person_id, b.waitlist_entry_id) for b in live] == [(second, waiting.entry.id)]
    assert by_person[second].booking_id == live[0].id
    assert booked_count(slot) == 1


def test_joining_the_waitlist_of_a_slot_with_a_free_place_books_it(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=1)
    with session_scope() as session:
        official = principal(session, "official_d1")
        view = service.join_waitlist(
            session, official, slot_id=slot, person_id=world.person_d1, now=NOW
        )
    assert view.entry.status == "booked" and view.entry.booking_id is not None
    assert booked_count(slot) == 1


def test_reschedule_to_a_full_slot_keeps_the_old_place(world: World):
    with session_scope() as session:
        old = add_slot(session, world.provider_d1, capacity=3)
        full = add_slot(session, world.provider_d1, capacity=1, start=NOW + timedelta(days=2))
        filler = add_persons(session, 1)[0]
    with session_scope() as session:
        official = principal(session, "official_d1")
        mine = service.book(session, official, slot_id=old, person_id=world.person_d1, now=NOW)
        service.book(session, official, slot_id=full, person_id=filler, now=NOW)
    with pytest.raises(SlotFull), session_scope() as session:
        service.reschedule(session, official, mine.view.booking.id, full, now=NOW)
    with session_scope() as session:
        after = service.visible_booking(session, official, mine.view.booking.id)
    assert (after.booking.slot_id, after.booking.status) == (old, "booked")
    assert booked_count(old) == 1 and booked_count(full) == 1


def test_reschedule_moves_the_booking_and_passes_the_old_place_to_the_waitlist(world: World):
    with session_scope() as session:
        old = add_slot(session, world.provider_d1, capacity=1)
        new = add_slot(session, world.provider_d1, capacity=1, start=NOW + timedelta(days=2))
        wrong = add_slot(
            session,
            world.provider_d1,
            capacity=1,
            start=NOW + timedelta(days=2),
            service=OTHER_SERVICE,
        )
        waiter = add_persons(session, 1)[0]
    with session_scope() as session:
        official = principal(session, "official_d1")
        mine = service.book(session, official, slot_id=old, person_id=world.person_d1, now=NOW)
        service.join_waitlist(session, official, slot_id=old, person_id=waiter, now=NOW)
    with pytest.raises(InvalidBooking), session_scope() as session:
        service.reschedule(session, official, mine.view.booking.id, wrong, now=NOW)
    with session_scope() as session:
        moved = service.reschedule(session, official, mine.view.booking.id, new, now=NOW)
    assert moved.booking.id == mine.view.booking.id
    assert (moved.booking.slot_id, moved.booking.previous_slot_id) == (new, old)
    assert booked_count(new) == 1
    with session_scope() as session:
        _, left = service.list_bookings(session, official, limit=10, offset=0, slot_id=old)
    assert [(v.booking.person_id, v.booking.status) for v in left] == [(waiter, "booked")]
    assert booked_count(old) == 1


def test_staff_see_and_book_only_inside_their_jurisdiction(world: World):
    with session_scope() as session:
        slot_d1 = add_slot(session, world.provider_d1)
        slot_d2 = add_slot(session, world.provider_d2)
    with pytest.raises(SlotNotFound), session_scope() as session:
        service.book(
            session,
            principal(session, "official_d2"),
            slot_id=slot_d1,
            person_id=world.person_d2,
            now=NOW,
        )
    with pytest.raises(PersonNotFound), session_scope() as session:
        service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot_d1,
            person_id=world.person_d2,
            now=NOW,
        )
    with session_scope() as session:
        mine = service.book(
            session,
            principal(session, "official_d2"),
            slot_id=slot_d2,
            person_id=world.person_d2,
            now=NOW,
        )
    with pytest.raises(BookingNotFound), session_scope() as session:
        service.cancel(session, principal(session, "official_d1"), mine.view.booking.id, now=NOW)
    with session_scope() as session:
        total, slots = service.list_slots(
            session, principal(session, "official_d1"), limit=50, offset=0
        )
        admin_total, _ = service.list_slots(
            session, principal(session, "admin1"), limit=50, offset=0
        )
    assert (total, [s.id for s in slots]) == (1, [slot_d1])
    assert admin_total == 2
    assert booked_count(slot_d1) == 0


def test_a_resident_books_for_themselves_and_registered_dependants_only(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1)
        slot_d2 = add_slot(session, world.provider_d2)
    with session_scope() as session:
        resident = principal(session, "resident1")
        own = service.book(session, resident, slot_id=slot, person_id=world.person_d1, now=NOW)
        # Residents see every slot: the other district's clinic is bookable for themselves.
        service.book(session, resident, slot_id=slot_d2, person_id=world.person_d1, now=NOW)
    assert own.view.booking.created_by == "resident1"
    with pytest.raises(PersonNotFound), session_scope() as session:
        service.book(session, resident, slot_id=slot, person_id=world.person_d2, now=NOW)
    # An official of district 1 cannot register a district-2 person as anyone's dependant.
    with pytest.raises(PersonNotFound), session_scope() as session:
        service.register_dependant(
            session,
            principal(session, "official_d1"),
            guardian_id=world.person_d1,
            dependant_id=world.person_d2,
            relation="parent",
        )
    with session_scope() as session:
        service.register_dependant(
            session,
            principal(session, "admin1"),
            guardian_id=world.person_d1,
            dependant_id=world.person_d2,
            relation="parent",
        )
    with session_scope() as session:
        for_parent = service.book(
            session, resident, slot_id=slot, person_id=world.person_d2, now=NOW
        )
        total, mine = service.list_bookings(session, resident, limit=10, offset=0)
    assert for_parent.view.booking.person_id == world.person_d2
    assert total == 3 and {v.booking.person_id for v in mine} == {world.person_d1, world.person_d2}


def test_a_resident_never_sees_someone_elses_booking(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d2)
    with session_scope() as session:
        theirs = service.book(
            session,
            principal(session, "official_d2"),
            slot_id=slot,
            person_id=world.person_d2,
            now=NOW,
        )
    with pytest.raises(BookingNotFound), session_scope() as session:
        service.cancel(session, principal(session, "resident1"), theirs.view.booking.id, now=NOW)
    with session_scope() as session:
        total, _ = service.list_bookings(
            session, principal(session, "resident1"), limit=10, offset=0
        )
    assert total == 0


def test_check_in_no_show_and_complete_follow_the_visit(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, start=NOW + timedelta(hours=1))
        first, second = add_persons(session, 2)
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        a = service.book(session, doctor, slot_id=slot, person_id=first, now=NOW).view.booking.id
        b = service.book(session, doctor, slot_id=slot, person_id=second, now=NOW).view.booking.id
    with pytest.raises(BookingStateConflict), session_scope() as session:
        service.mark_no_show(session, doctor, b, now=NOW)  # the slot has not started
    with session_scope() as session:
        checked = service.check_in(session, doctor, a, now=NOW)
        again = service.check_in(session, doctor, a, now=NOW)
        missed = service.mark_no_show(session, doctor, b, now=NOW + timedelta(hours=2))
    assert checked.booking.status == again.booking.status == "checked_in"
    assert missed.booking.status == "no_show"
    with pytest.raises(BookingStateConflict), session_scope() as session:
        service.cancel(session, doctor, a, now=NOW)
    with session_scope() as session:
        done = service.complete(session, a, actor="doctor_d1", now=NOW + timedelta(hours=1))
    assert done.booking.status == "completed" and done.booking.completed_at is not None
    with pytest.raises(BookingStateConflict), session_scope() as session:
        service.complete(session, b, actor="doctor_d1", now=NOW)
    # A no-show keeps its place: the time has passed and cannot be offered again.
    assert booked_count(slot) == 2
    with session_scope() as session:
        due = service.bookings_due(
            session, NOW, NOW + timedelta(days=1), statuses=("completed", "no_show")
        )
    assert sorted(v.booking.id for v in due) == sorted([a, b])


def test_a_slot_that_has_ended_takes_no_booking(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, start=NOW - timedelta(hours=2))
    with pytest.raises(SlotClosed), session_scope() as session:
        service.book(
            session,
            principal(session, "official_d1"),
            slot_id=slot,
            person_id=world.person_d1,
            now=NOW,
        )


def test_staff_create_slots_for_offered_services_inside_their_jurisdiction(world: World):
    start = NOW + timedelta(days=1)
    with session_scope() as session:
        official = principal(session, "official_d1")
        slot = service.create_slot(
            session,
            official,
            provider_id=world.provider_d1,
            service=SERVICE,
            start=start,
            end=start + timedelta(hours=3),
            capacity=30,
            now=NOW,
        )
        assert (slot.capacity, slot.booked, slot.region_code) == (30, 0, "449901001001")
        with pytest.raises(ProviderNotFound):
            service.create_slot(
                session,
                official,
                provider_id=world.provider_d2,
                service=SERVICE,
                start=start,
                end=start + timedelta(hours=1),
                capacity=3,
                now=NOW,
            )
        for end, service_code in [
            (start - timedelta(minutes=1), SERVICE),  # ends before it starts
            (start + timedelta(hours=25), SERVICE),  # longer than a day
            (start + timedelta(hours=1), "home_sickbed"),  # not offered by this provider
        ]:
            with pytest.raises(InvalidSlot):
                service.create_slot(
                    session,
                    official,
                    provider_id=world.provider_d1,
                    service=service_code,
                    start=start,
                    end=end,
                    capacity=3,
                    now=NOW,
                )


def test_concurrent_bookings_in_threads_never_overbook(world: World):
    """A small in-process race (the full burst against a live server is in test_concurrency)."""
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1, capacity=3)
        people = add_persons(session, 12)
        official = principal(session, "official_d1")
    barrier = threading.Barrier(len(people))
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(person: str) -> None:
        session = session_factory()()
        try:
            barrier.wait()
            service.book(session, official, slot_id=slot, person_id=person, now=NOW)
            session.commit()
            result = "booked"
        except SlotFull:
            session.rollback()
            result = "full"
        finally:
            session.close()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(p,)) for p in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["booked"] * 3 + ["full"] * 9
    assert booked_count(slot) == holders(slot) == 3


def test_a_booking_may_name_the_open_demand_it_serves(world: World):
    with session_scope() as session:
        slot = add_slot(session, world.provider_d1)
        for demand_id, person, service_code in [
            ("D-own", world.person_d1, SERVICE),
            ("D-other-service", world.person_d1, OTHER_SERVICE),
            ("D-someone-else", world.person_d2, SERVICE),
        ]:
            session.add(
                Demand(
                    id=demand_id,
                    person_id=person,
                    tag="elderly_checkup",
                    service=service_code,
                    demand_type="public_health",
                    level="maintenance",
                    because="{}",
                    as_of=NOW.date(),
                )
            )
    with session_scope() as session:
        official = principal(session, "official_d1")
        for demand_id, error in [
            ("D-someone-else", BookingDemandNotFound),
            ("D-no-such", BookingDemandNotFound),
            ("D-other-service", InvalidBooking),
        ]:
            with pytest.raises(error):
                service.book(
                    session,
                    official,
                    slot_id=slot,
                    person_id=world.person_d1,
                    demand_id=demand_id,
                    now=NOW,
                )
    with session_scope() as session:
        booked = service.book(
            session, official, slot_id=slot, person_id=world.person_d1, demand_id="D-own", now=NOW
        )
    assert booked.view.booking.demand_id == "D-own"
    assert booked_count(slot) == 1
