"""Parallel redemptions that together would overdraw: exactly the affordable number succeed,
the rest are refused (409), and the balance is never negative — on SQLite and PostgreSQL.

Each thread has its own session (its own connection and transaction), all released at once by
a barrier, and commits or rolls back as the API edge does. A watcher thread reads the balance
throughout and must never see it below zero.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from carematch.core.db import session_factory, session_scope
from carematch.points import repository, service
from carematch.points.errors import PointsOverdrawn, SourceAlreadyUsed
from carematch.points.models import PointsEntry
from carematch.points.service import PostingResult

pytestmark = pytest.mark.slow

THREADS = 12
PRICE = service.point_rules().redemptions["medication_delivery"].price
CHECKUP = service.point_rules().activities["annual_checkup"].points
QUESTIONNAIRE = service.point_rules().activities["questionnaire"].points


def race(work: Callable[[object, int], PostingResult], threads: int = THREADS) -> list[object]:
    """Run ``work(session, n)`` in ``threads`` threads at once; each outcome or exception."""
    factory = session_factory()
    barrier = threading.Barrier(threads)
    outcomes: list[object] = [None] * threads

    def one(n: int) -> None:
        session = factory()
        try:
            barrier.wait()
            outcomes[n] = work(session, n)
            session.commit()
        except Exception as exc:  # the test inspects every outcome, errors included
            session.rollback()
            outcomes[n] = exc
        finally:
            session.close()

    pool = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in pool), "a thread hung"
    return outcomes


class Watcher:
    """Reads a person's points balance in a loop and keeps the lowest value seen."""

    def __init__(self, person: str) -> None:
        self.person, self.lowest, self.reads = person, None, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        factory = session_factory()
        while not self._stop.is_set():
            session = factory()
            try:
                value = repository.person_balances(session, self.person)["points"]
            finally:
                session.close()
            self.lowest = value if self.lowest is None else min(self.lowest, value)
            self.reads += 1

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def fund(person: str, checkups: int, questionnaires: int) -> int:
    """Give a person some points; return the balance."""
    with session_scope() as session:
        for n in range(checkups):
            service.earn(
                session, person_id=person, activity="annual_checkup", source=("sr", f"c{n}"),
                actor="seed",
            )  # fmt: skip
        for n in range(questionnaires):
            service.earn(
                session, person_id=person, activity="questionnaire", source=("q", f"q{n}"),
                actor="seed",
            )  # fmt: skip
    return checkups * CHECKUP + questionnaires * QUESTIONNAIRE


@pytest.mark.parametrize("early_refusal", [True, False], ids=["early-check", "database-only"])
def test_parallel_redemptions_never_overdraw(env, monkeypatch, early_refusal):
    if not early_refusal:
        # Every thread reaches the conditional UPDATE: the database alone must hold the line.
        monkeypatch.setattr(service, "refuse_early", lambda session, posting: None)
    person = uuid.uuid4().hex
    balance = fund(person, checkups=3, questionnaires=1)
    affordable = balance // PRICE
    assert 0 < affordable < THREADS

    def redeem(session, n):  # type: ignore[no-untyped-def]
        return service.redeem(
            session,
            person_id=person,
            service_code="medication_delivery",
            source=("request", f"r{n}"),
            actor=f"resident{n}",
        )

    with Watcher(person) as watcher:
        outcomes = race(redeem)

    kinds = Counter(type(o).__name__ for o in outcomes)
    assert kinds == {"PostingResult": affordable, "PointsOverdrawn": THREADS - affordable}, outcomes
    assert all(o.created for o in outcomes if isinstance(o, PostingResult))
    assert all(o.status == 409 for o in outcomes if isinstance(o, PointsOverdrawn))
    with session_scope() as session:
        final = repository.person_balances(session, person)["points"]
        redeemed = session.scalar(
            select(func.count()).select_from(PointsEntry).where(PointsEntry.kind == "redeem")
        )
        check = service.check_ledger(session)
    assert final == balance - affordable * PRICE >= 0
    assert redeemed == affordable
    assert check.sound, check
    assert watcher.reads > 0 and watcher.lowest is not None and watcher.lowest >= 0


def test_parallel_postings_of_one_source_earn_once(env):
    person = uuid.uuid4().hex

    def earn(session, n):  # type: ignore[no-untyped-def]
        return service.earn_for_service(
            session,
            person_id=person,
            service_code="elderly_checkup",
            service_record_id="SR-RACE",
            actor=f"doctor{n}",
        )

    outcomes = race(earn)
    created = [o for o in outcomes if isinstance(o, PostingResult) and o.created]
    replays = [o for o in outcomes if isinstance(o, PostingResult) and not o.created]
    # A request that lost the race after its look-up is refused (retry reads the entry);
    # anything else would be a failure.
    retried = [o for o in outcomes if isinstance(o, SourceAlreadyUsed)]
    assert len(created) == 1, outcomes
    assert len(created) + len(replays) + len(retried) == THREADS, outcomes
    assert all(o.extra.get("retry") for o in retried)
    assert {o.entry.id for o in replays} <= {created[0].entry.id}
    with session_scope() as session:
        assert repository.person_balances(session, person)["points"] == CHECKUP
        entries = session.scalar(select(func.count()).select_from(PointsEntry))
        again = service.earn_for_service(
            session,
            person_id=person,
            service_code="elderly_checkup",
            service_record_id="SR-RACE",
            actor="doctor",
        )
        assert service.check_ledger(session).sound
    assert entries == 1
    assert again is not None and not again.created and again.entry.id == created[0].entry.id


def test_parallel_earnings_and_redemptions_keep_balances_equal_to_lines(env):
    """A mixed race on two persons: earnings, redemptions and time-bank spending together."""
    persons = [uuid.uuid4().hex, uuid.uuid4().hex]
    for person in persons:
        fund(person, checkups=1, questionnaires=0)
        with session_scope() as session:
            service.record_volunteering(
                session, person_id=person, help_kind="shopping", minutes=100,
                source=("help", "seed"), actor="seed",
            )  # fmt: skip

    def mixed(session, n):  # type: ignore[no-untyped-def]
        person = persons[n % 2]
        if n % 3 == 0:
            return service.earn(
                session, person_id=person, activity="health_talk", source=("talk", f"t{n}"),
                actor="grid",
            )  # fmt: skip
        if n % 3 == 1:
            return service.redeem(
                session, person_id=person, service_code="medication_delivery", source=None,
                actor="resident",
            )  # fmt: skip
        return service.record_help_received(
            session, person_id=person, help_kind="shopping", minutes=60,
            source=("help", f"h{n}"), actor="grid",
        )  # fmt: skip

    outcomes = race(mixed)
    assert all(isinstance(o, PostingResult | PointsOverdrawn) for o in outcomes), outcomes
    with session_scope() as session:
        check = service.check_ledger(session)
        for person in persons:
            balances = repository.person_balances(session, person)
            assert balances["points"] >= 0 and balances["minutes"] >= 0
            # Each person asks twice for 60 minutes: 100 minutes cover one, never both.
            assert balances["minutes"] == 100 - 60
    assert check.sound, check
