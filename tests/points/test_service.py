"""The ledger in the database, on SQLite and PostgreSQL: idempotent earning, refused overdrafts,
reversals, audit entries, and a differential test against the in-memory reference ledger."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from carematch.core.db import session_scope
from carematch.points import ledger, repository, service
from carematch.points.errors import (
    EntryNotReversible,
    InvalidPosting,
    NotRedeemable,
    PointsOverdrawn,
    SourceAlreadyUsed,
    UnknownActivity,
    UnknownHelpKind,
)
from carematch.points.models import PointsAccount, PointsEntry, PointsLine
from carematch.security import audit
from carematch.security.models import AuditEntry

RULES = service.point_rules()
CHECKUP = RULES.activities["annual_checkup"].points
DELIVERY = RULES.redemptions["medication_delivery"].price


def new_person() -> str:
    return uuid.uuid4().hex


def count(model) -> int:  # type: ignore[no-untyped-def]
    with session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_service_record_earns_once_however_often_it_is_posted(env):
    person = new_person()
    with session_scope() as session:
        first = service.earn_for_service(
            session,
            person_id=person,
            service_code="elderly_checkup",
            service_record_id="SR-1",
            actor="doctor_d1",
        )
    with session_scope() as session:
        again = service.earn_for_service(
            session,
            person_id=person,
            service_code="elderly_checkup",
            service_record_id="SR-1",
            actor="doctor_d1",
        )
        balances = repository.person_balances(session, person)
    assert first is not None and again is not None
    assert (first.created, again.created) == (True, False)
    assert again.entry.id == first.entry.id
    assert first.entry.source_kind == "service_record" and first.entry.source_id == "SR-1"
    assert balances == {"points": CHECKUP, "minutes": 0}
    assert count(PointsEntry) == 1


def test_a_service_that_earns_nothing_posts_nothing(env):
    with session_scope() as session:
        result = service.earn_for_service(
            session,
            person_id=new_person(),
            service_code="general_outpatient",
            service_record_id="SR-2",
            actor="doctor_d1",
        )
    assert result is None
    assert count(PointsEntry) == 0


def test_a_source_that_posted_one_movement_cannot_post_another(env):
    person = new_person()
    with session_scope() as session:
        service.earn(
            session, person_id=person, activity="health_talk", source=("talk", "T1"), actor="a"
        )
    with pytest.raises(SourceAlreadyUsed), session_scope() as session:
        service.earn(
            session, person_id=person, activity="questionnaire", source=("talk", "T1"), actor="a"
        )


def test_an_overdraft_is_refused_and_leaves_no_trace(env):
    person = new_person()
    with session_scope() as session:
        service.earn(
            session, person_id=person, activity="questionnaire", source=("q", "Q1"), actor="a"
        )
    entries, audits = count(PointsEntry), count(AuditEntry)
    with pytest.raises(PointsOverdrawn) as refused, session_scope() as session:
        service.redeem(
            session, person_id=person, service_code="medication_delivery", source=None, actor="a"
        )
    problem = refused.value.problem()
    assert (problem["status"], problem["balance"], problem["requested"]) == (409, 10, DELIVERY)
    assert (count(PointsEntry), count(AuditEntry)) == (entries, audits)
    with session_scope() as session:
        assert repository.person_balances(session, person)["points"] == 10


def test_the_conditional_update_refuses_when_the_early_check_is_passed(env, monkeypatch):
    """The database decides: with the early refusal switched off, the UPDATE still refuses."""
    monkeypatch.setattr(service, "refuse_early", lambda session, posting: None)
    person = new_person()
    with pytest.raises(PointsOverdrawn), session_scope() as session:
        service.redeem(
            session, person_id=person, service_code="medication_delivery", source=None, actor="a"
        )
    assert count(PointsEntry) == 0 and count(PointsLine) == 0


def test_the_database_refuses_a_negative_person_balance_even_from_raw_sql(env):
    person = new_person()
    with session_scope() as session:
        service.earn(
            session, person_id=person, activity="questionnaire", source=("q", "Q1"), actor="a"
        )
    key = ledger.person_account(person, ledger.Unit.POINTS).key
    with pytest.raises(IntegrityError), session_scope() as session:
        session.execute(update(PointsAccount).where(PointsAccount.key == key).values(balance=-1))


def test_a_reversal_corrects_once_and_refuses_to_take_back_spent_points(env):
    person = new_person()
    with session_scope() as session:
        earned = service.earn(
            session, person_id=person, activity="annual_checkup", source=("sr", "S1"), actor="a"
        )
        spent = service.redeem(
            session,
            person_id=person,
            service_code="medication_delivery",
            source=("booking", "B1"),
            actor="a",
        )
    assert spent.balance == CHECKUP - DELIVERY
    # The points were spent: taking the earning back would overdraw.
    with pytest.raises(PointsOverdrawn), session_scope() as session:
        service.reverse(session, entry_id=earned.entry.id, actor="off", reason="wrong person")
    with session_scope() as session:
        undone = service.reverse(session, entry_id=spent.entry.id, actor="off", reason="refund")
        again = service.reverse(session, entry_id=spent.entry.id, actor="off", reason="refund")
        page, _ = service.entries(session, person, unit=None, limit=10, offset=0)
    assert undone.created and not again.created and again.entry.id == undone.entry.id
    assert undone.balance == CHECKUP
    assert undone.entry.reverses_id == spent.entry.id
    assert {v.id: v.reversed_by for v in page}[spent.entry.id] == undone.entry.id
    with pytest.raises(EntryNotReversible), session_scope() as session:
        service.reverse(session, entry_id=undone.entry.id, actor="off", reason="undo the undo")


def test_time_bank_minutes_are_their_own_unit(env):
    person = new_person()
    with session_scope() as session:
        service.record_volunteering(
            session,
            person_id=person,
            help_kind="escort_to_clinic",
            minutes=120,
            source=("help_record", "H1"),
            actor="grid",
        )
        used = service.record_help_received(
            session,
            person_id=person,
            help_kind="companionship",
            minutes=45,
            source=("help_record", "H2"),
            actor="grid",
        )
    assert used.balance == 75 and used.entry.unit == "minutes"
    with session_scope() as session:
        assert repository.person_balances(session, person) == {"points": 0, "minutes": 75}
    with pytest.raises(PointsOverdrawn), session_scope() as session:
        service.record_help_received(
            session,
            person_id=person,
            help_kind="companionship",
            minutes=76,
            source=("help_record", "H3"),
            actor="grid",
        )


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: service.earn(s, person_id="p", activity="nap", source=("a", "1"), actor="x"),
         UnknownActivity),
        (lambda s: service.earn(s, person_id="p", activity="health_talk", source=("A", "1"),
                                actor="x"), InvalidPosting),
        (lambda s: service.earn(s, person_id="p", activity="health_talk",
                                source=("reversal", "1"), actor="x"), InvalidPosting),
        (lambda s: service.earn(s, person_id="p", activity="health_talk", source=("a", "1"),
                                actor="x", memo="m" * 201), InvalidPosting),
        (lambda s: service.redeem(s, person_id="p", service_code="general_outpatient",
                                  source=None, actor="x"), NotRedeemable),
        (lambda s: service.record_volunteering(s, person_id="p", help_kind="juggling",
                                               minutes=5, source=("h", "1"), actor="x"),
         UnknownHelpKind),
        (lambda s: service.record_volunteering(s, person_id="p", help_kind="shopping",
                                               minutes=481, source=("h", "1"), actor="x"),
         InvalidPosting),
    ],
)  # fmt: skip
def test_bad_postings_are_refused_with_a_domain_error(env, call, error):
    with pytest.raises(error), session_scope() as session:
        call(session)
    assert count(PointsEntry) == 0


def test_every_entry_is_audited_with_who_why_and_source(env):
    person = new_person()
    with session_scope() as session:
        result = service.earn(
            session,
            person_id=person,
            activity="health_talk",
            source=("health_talk", "T9"),
            actor="grid_7",
        )
    with session_scope() as session:
        row = session.scalar(select(AuditEntry).where(AuditEntry.entity_id == result.entry.id))
        checked, problems = audit.verify(session)
    assert row is not None
    assert (row.actor, row.action, row.entity) == ("grid_7", "points_earn", "points_entry")
    assert json.loads(row.detail) == {
        "person": person,
        "kind": "earn",
        "code": "health_talk",
        "unit": "points",
        "amount": RULES.activities["health_talk"].points,
        "source": "health_talk:T9",
        "reverses": None,
    }
    assert checked > 0 and problems == []


def test_statement_lists_the_newest_entries_first(env):
    person = new_person()
    with session_scope() as session:
        for n in range(3):
            service.earn(
                session,
                person_id=person,
                activity="questionnaire",
                source=("q", f"Q{n}"),
                actor="a",
            )
        statement = service.statement(session, person, recent=2)
        page, total = service.entries(session, person, unit=ledger.Unit.POINTS, limit=2, offset=2)
        minutes, none = service.entries(
            session, person, unit=ledger.Unit.MINUTES, limit=5, offset=0
        )
    assert statement.balances["points"] == 30
    assert [e.source_id for e in statement.recent] == ["Q2", "Q1"]
    assert ([e.source_id for e in page], total) == (["Q0"], 3)
    assert (minutes, none) == ([], 0)
    assert all(e.created_at.tzinfo is not None for e in statement.recent)


# ---- differential test: the database agrees with the reference ledger ------------------------

ACTIVITIES = sorted(RULES.activities)
OFFERS = sorted(RULES.redemptions)
HELP = sorted(RULES.help_kinds)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("earn"), st.sampled_from(ACTIVITIES), st.integers(0, 4)),
        st.tuples(st.just("redeem"), st.sampled_from(OFFERS), st.integers(0, 4)),
        st.tuples(st.just("volunteer"), st.sampled_from(HELP), st.integers(1, 240)),
        st.tuples(st.just("receive_help"), st.sampled_from(HELP), st.integers(1, 240)),
        st.tuples(st.just("reverse"), st.just(""), st.integers(0, 100)),
    ),
    max_size=20,
)
REFUSED = (PointsOverdrawn, SourceAlreadyUsed, EntryNotReversible)
LEDGER_REFUSED = (ledger.Overdrawn, ledger.SourceReused, ledger.NotReversible)


def run_on_database(person: str, op: tuple, n: int, posted: list[str]):  # type: ignore[no-untyped-def]
    verb, code, arg = op
    with session_scope() as session:
        if verb == "earn":
            return service.earn(
                session, person_id=person, activity=code, source=("act", f"s{arg}"), actor="t"
            )
        if verb == "redeem":
            return service.redeem(
                session, person_id=person, service_code=code, source=("red", f"s{arg}"), actor="t"
            )
        if verb == "volunteer":
            return service.record_volunteering(
                session, person_id=person, help_kind=code, minutes=arg, source=("h", f"{n}"),
                actor="t",
            )  # fmt: skip
        if verb == "receive_help":
            return service.record_help_received(
                session, person_id=person, help_kind=code, minutes=arg, source=("g", f"{n}"),
                actor="t",
            )  # fmt: skip
        return service.reverse(
            session, entry_id=posted[arg % len(posted)], actor="t", reason="correction"
        )


def run_on_reference(
    book: ledger.Ledger, entry_id: str, person: str, op: tuple, n: int, posted: list[str]
) -> ledger.Posted:
    verb, code, arg = op
    if verb == "earn":
        p = ledger.earn(person, RULES.activities[code], ledger.SourceRef("act", f"s{arg}"))
    elif verb == "redeem":
        p = ledger.redeem(person, RULES.redemptions[code], ledger.SourceRef("red", f"s{arg}"))
    elif verb == "volunteer":
        help_kind = RULES.help_kinds[code]
        p = ledger.volunteer(RULES, person, help_kind, arg, ledger.SourceRef("h", f"{n}"))
    elif verb == "receive_help":
        help_kind = RULES.help_kinds[code]
        p = ledger.receive_help(RULES, person, help_kind, arg, ledger.SourceRef("g", f"{n}"))
    else:
        return book.reverse(posted[arg % len(posted)], entry_id, "correction")
    return book.post(entry_id, p)


@pytest.mark.slow
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=ops)
def test_the_database_ledger_agrees_with_the_reference_ledger(env, sequence):
    person = new_person()  # each example its own person, so examples share one database
    book = ledger.Ledger()
    posted: list[str] = []
    for n, op in enumerate(sequence):
        if op[0] == "reverse" and not posted:
            continue
        try:
            got = run_on_database(person, op, n, posted)
        except REFUSED:
            # The reference refuses too, and the refusal changed nothing in either.
            with pytest.raises(LEDGER_REFUSED):
                run_on_reference(book, f"refused{n}", person, op, n, posted)
        else:
            # The reference posts under the database's id: a new entry, or the same replay.
            expected = run_on_reference(book, got.entry.id, person, op, n, posted)
            assert (expected.created, expected.entry_id) == (got.created, got.entry.id), op
            if got.created:
                posted.append(got.entry.id)
        with session_scope() as session:
            balances = repository.person_balances(session, person)
        for unit in ledger.Unit:
            assert balances[str(unit)] == book.balance(ledger.person_account(person, unit).key)
    with session_scope() as session:
        check = service.check_ledger(session)
    assert check.sound, check
