"""Family-doctor use cases on SQLite and PostgreSQL: teams, signing, renewal, termination,
follow-up tasks and their reminders, referral between the two ends."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from carematch.core.db import session_factory, session_scope
from carematch.familydoctor import repository, service
from carematch.familydoctor.errors import (
    AlreadySigned,
    ContractStateConflict,
    InvalidContract,
    InvalidFollowUp,
    InvalidReferral,
    InvalidTeam,
    MemberConflict,
    NotEligible,
    NotReceivingEnd,
    ReferralNotFound,
    ReferralStateConflict,
    ResidentNotLinked,
    TaskStateConflict,
    TeamNotFound,
    UserNotFound,
)
from carematch.familydoctor.models import FamilyDoctorContract, FollowUpTask
from carematch.familydoctor.schedule import PersonFacts, Term, add_months
from carematch.identity.errors import PersonNotFound
from carematch.notifications.models import OutboxMessage
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ
from carematch.security.models import AuditEntry
from tests.familydoctor.conftest import D1, World, add_team, principal

T0 = date(2030, 3, 4)


def sign(world: World, who: str, person: str, team: str, package: str = "basic", **kw):
    with session_scope() as session:
        return service.sign(
            session,
            principal(session, who),
            person_id=person,
            team_id=team,
            package_code=package,
            **kw,
        )


def tasks_of(person: str) -> dict[str, FollowUpTask]:
    """The person's open tasks by programme."""
    with session_scope() as session:
        rows = session.scalars(
            select(FollowUpTask).where(
                FollowUpTask.person_id == person, FollowUpTask.status.in_(("pending", "overdue"))
            )
        ).all()
    return {t.program: t for t in rows}


def outbox(key: str | None) -> OutboxMessage | None:
    with session_scope() as session:
        return session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key))


def outbox_status(key: str | None) -> str | None:
    """The status of the reminder enqueued under ``key`` (None: there is none)."""
    message = outbox(key)
    return message.status if message else None


def audit_actions(entity_id: str) -> list[str]:
    with session_scope() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_id == entity_id)
                .order_by(AuditEntry.seq)
            )
        )


@pytest.fixture
def team(world: World) -> str:
    """The street 449901001 team at the community health centre, led by doctor_d1."""
    with session_scope() as session:
        return add_team(session, world)


# --- teams ----------------------------------------------------------------------------------


def test_an_official_makes_a_team_whose_area_defaults_to_the_provider_s_street(world):
    with session_scope() as session:
        official = principal(session, "official_d1")
        view = service.create_team(
            session,
            official,
            name="幸福街道家庭医生一队",
            provider_id="PRVC1",
            lead_user_id=world.users["doctor_d1"],
        )
        village = service.create_team(
            session,
            official,
            name="村医团队",
            provider_id="PRVV1",
            lead_user_id=world.users["doctor2_d1"],
        )
    assert view.team.area_code == f"{D1}001" and view.team.region_code == f"{D1}001001"
    assert [(m.username, m.member.team_role) for m in view.members] == [
        ("doctor_d1", "general_practitioner")
    ]
    assert village.team.area_code == f"{D1}001002"
    assert audit_actions(view.team.id) == ["create_family_doctor_team"]


@pytest.mark.parametrize(
    ("who", "provider", "lead", "error"),
    [
        ("official_d2", "PRVC1", "doctor_d1", ProviderNotFound),  # another district's provider
        ("official_d1", "PRVH1", "doctor_d1", InvalidTeam),  # a hospital is not primary care
        ("official_d1", "PRVN1", "doctor_d1", InvalidTeam),
        ("official_d1", "PRVC1", "grid_d1", UserNotFound),  # the lead must be a doctor
        ("official_d1", "PRVC1", "doctor_d2", UserNotFound),  # … working where the provider is
    ],
)
def test_a_team_needs_a_primary_care_provider_in_reach_and_a_doctor_there(
    world, who, provider, lead, error
):
    with session_scope() as session, pytest.raises(error):
        service.create_team(
            session,
            principal(session, who),
            name="团队",
            provider_id=provider,
            lead_user_id=world.users[lead],
        )


def test_members_join_once_and_the_lead_stays(world, team):
    with session_scope() as session:
        official = principal(session, "official_d1")
        view = service.add_member(
            session, official, team, user_id=world.users["grid_d1"], team_role="health_manager"
        )
        assert {m.username for m in view.members} == {"doctor_d1", "grid_d1"}
        with pytest.raises(MemberConflict):
            service.add_member(
                session, official, team, user_id=world.users["grid_d1"], team_role="nurse"
            )
        with pytest.raises(MemberConflict, match="lead"):
            service.remove_member(session, official, team, world.users["doctor_d1"])
        view = service.remove_member(session, official, team, world.users["grid_d1"])
        assert {m.username for m in view.members} == {"doctor_d1"}
        with pytest.raises(TeamNotFound):
            service.add_member(
                session,
                principal(session, "official_d2"),
                team,
                user_id=world.users["doctor_d2"],
                team_role="nurse",
            )


def test_residents_see_the_teams_that_serve_their_community_only(world, team):
    with session_scope() as session:
        other = add_team(session, world, area=f"{D1}002", name="另一街道团队")
    with session_scope() as session:
        total, views = service.list_teams(
            session, principal(session, "resident_ht"), limit=10, offset=0
        )
        assert total == 1 and [v.team.id for v in views] == [team]
        with pytest.raises(TeamNotFound):
            service.visible_team(session, principal(session, "resident_ht"), other)
        staff_total, _ = service.list_teams(
            session, principal(session, "official_d1"), limit=10, offset=0
        )
        assert staff_total == 2
        assert service.list_teams(
            session, principal(session, "official_d2"), limit=10, offset=0
        ) == (0, [])


# --- signing --------------------------------------------------------------------------------


def test_staff_sign_a_person_and_the_follow_ups_and_reminders_are_made_at_once(world, team):
    contract = sign(world, "doctor_d1", world.ht, team)
    term = Term.of_year(world.today)
    assert (contract.starts_on, contract.ends_on) == (term.starts_on, term.ends_on)
    assert contract.status == "active" and contract.channel == "staff" and contract.price == 0
    tasks = tasks_of(world.ht)
    # 68, hypertension and diabetes: the basic package follows up both quarterly and gives a
    # yearly check-up; the EHR's follow-up 20 days ago sets the chronic ones' first due date.
    assert set(tasks) == {"hypertension", "diabetes", "elderly_checkup"}
    quarterly = add_months(world.ht_last_followup, 3)
    assert tasks["hypertension"].due_on == quarterly == tasks["diabetes"].due_on
    assert tasks["elderly_checkup"].due_on == world.today
    assert all(t.status == "pending" and t.contract_id == contract.id for t in tasks.values())
    reminder = outbox(tasks["hypertension"].reminder_key)
    assert reminder is not None and reminder.template == "followup_due"
    assert reminder.recipient_kind == "person" and reminder.recipient_id == world.ht
    assert json.loads(reminder.params)["due_date"] == quarterly.isoformat()
    seven_days_before = datetime.combine(
        quarterly - timedelta(days=7), datetime.min.time().replace(hour=9), CITY_TZ
    )
    assert reminder.due_at.astimezone(UTC) == seven_days_before.astimezone(UTC)
    assert audit_actions(contract.id) == ["sign_family_doctor_contract"]
    with session_scope() as session:
        assert service.signed_persons(session) == {world.ht}
        assert service.signed_persons(session, [world.d2, world.ht]) == {world.ht}
        assert service.signed_persons(session, on=contract.ends_on + timedelta(days=1)) == set()


def test_one_contract_at_a_time_and_only_with_a_team_serving_the_person(world, team):
    sign(world, "doctor_d1", world.ht, team)
    with pytest.raises(AlreadySigned):
        sign(world, "doctor_d1", world.ht, team, package="chronic")
    with pytest.raises(InvalidContract, match="does not serve"):
        sign(world, "doctor_d1", world.other_street, team)
    with pytest.raises(PersonNotFound):  # another district's person is not revealed
        sign(world, "doctor_d1", world.d2, team)
    with pytest.raises(InvalidContract, match="within 31 days"):
        sign(world, "doctor_d1", world.young, team, starts_on=world.today + timedelta(days=40))


def test_paid_packages_are_for_those_they_are_made_for(world, team):
    with pytest.raises(NotEligible, match="60"):
        sign(world, "doctor_d1", world.young, team, package="elderly")
    with pytest.raises(NotEligible, match="hypertension"):
        sign(world, "doctor_d1", world.young, team, package="chronic")
    chronic = sign(world, "doctor_d1", world.ht, team, package="chronic")
    assert str(chronic.price) == "200.00"
    # The chronic package follows hypertension monthly instead of quarterly.
    due = tasks_of(world.ht)["hypertension"].due_on
    assert due == add_months(world.ht_last_followup, 1)


def test_a_resident_signs_only_themselves(world, team):
    mine = sign(world, "resident_young", world.young, team)
    assert mine.channel == "self" and mine.signed_by == "resident_young"
    # Not old enough for an elderly check-up, no condition: nothing to follow up.
    assert tasks_of(world.young) == {}
    with pytest.raises(PersonNotFound):
        sign(world, "resident_young", world.ht, team)
    with pytest.raises(ResidentNotLinked):
        sign(world, "resident_unlinked", world.ht, team)


def test_a_signing_dated_later_is_scheduled_and_makes_no_task_yet(world, team):
    later = world.today + timedelta(days=10)
    contract = sign(world, "doctor_d1", world.ht, team, starts_on=later)
    assert contract.status == "scheduled" and contract.starts_on == later
    assert tasks_of(world.ht) == {}
    with session_scope() as session:
        summary = service.refresh_tasks(session, None, today=later)
    assert summary.activated == 1 and summary.created == 3


def test_two_signings_at_once_give_one_contract(world, team):
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        session = session_factory()()
        try:
            who = principal(session, "doctor_d1")
            barrier.wait()
            service.sign(session, who, person_id=world.ht, team_id=team, package_code="basic")
            session.commit()
            outcomes.append("signed")
        except AlreadySigned:
            session.rollback()
            outcomes.append("refused")
        finally:
            session.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["refused", "signed"]
    with session_scope() as session:
        count = session.scalar(
            select(func.count()).where(FamilyDoctorContract.person_id == world.ht)
        )
    assert count == 1


# --- renewal and termination ----------------------------------------------------------------


def test_renewal_opens_sixty_days_before_the_end_and_continues_the_term(world, team):
    first = sign(world, "doctor_d1", world.ht, team, today=T0)
    with session_scope() as session, pytest.raises(ContractStateConflict, match="from"):
        service.renew(session, principal(session, "doctor_d1"), first.id, today=T0)
    near_end = first.ends_on - timedelta(days=10)
    with session_scope() as session:
        second = service.renew(
            session,
            principal(session, "resident_ht"),
            first.id,
            package_code="chronic",
            today=near_end,
        )
    assert second.status == "scheduled" and second.term == 2 and second.previous_id == first.id
    assert second.starts_on == first.ends_on + timedelta(days=1)
    assert second.channel == "self" and second.package_code == "chronic"
    with session_scope() as session, pytest.raises(ContractStateConflict, match="already"):
        service.renew(session, principal(session, "doctor_d1"), first.id, today=near_end)
    # The day the new term begins, the old one has expired and the new one is active.
    with session_scope() as session:
        service.refresh_tasks(session, None, today=second.starts_on)
        statuses = {c.id: c.status for c in repository.contracts_of_person(session, world.ht)}
        assert statuses == {first.id: "expired", second.id: "active"}
        assert service.signed_persons(session, on=second.starts_on) == {world.ht}


def test_statuses_read_as_of_today_before_any_sweep_has_stored_them(world, team):
    first = sign(world, "doctor_d1", world.ht, team, today=T0)
    with session_scope() as session:
        second = service.renew(
            session, principal(session, "doctor_d1"), first.id, today=first.ends_on
        )
    day_after = first.ends_on + timedelta(days=1)
    with session_scope() as session:
        official = principal(session, "official_d1")

        def listed(status: str) -> list[str]:
            _, rows = service.list_contracts(
                session, official, limit=10, offset=0, status=status, today=day_after
            )
            return [c.id for c in rows]

        stored = {c.id: c.status for c in repository.contracts_of_person(session, world.ht)}
        assert stored == {first.id: "active", second.id: "scheduled"}  # nothing swept yet
        assert listed("expired") == [first.id] and listed("active") == [second.id]
        assert listed("scheduled") == []
        assert service.contract_status(first, day_after) == "expired"
        assert service.contract_status(second, day_after) == "active"
        assert service.contract_status(second, first.ends_on) == "scheduled"


def test_a_lapsed_contract_renews_from_today_and_a_terminated_one_does_not(world, team):
    first = sign(world, "doctor_d1", world.ht, team, today=T0)
    lapsed_day = first.ends_on + timedelta(days=40)
    with session_scope() as session:
        assert service.signed_persons(session, on=lapsed_day) == set()
        again = service.renew(session, principal(session, "doctor_d1"), first.id, today=lapsed_day)
    assert again.status == "active" and again.starts_on == lapsed_day and again.term == 2
    with session_scope() as session:
        service.terminate(
            session, principal(session, "doctor_d1"), again.id, reason="迁出", today=lapsed_day
        )
    with session_scope() as session, pytest.raises(ContractStateConflict, match="sign a new"):
        service.renew(session, principal(session, "doctor_d1"), again.id, today=lapsed_day)


def test_termination_cancels_open_tasks_their_reminders_and_the_scheduled_renewal(world, team):
    first = sign(world, "doctor_d1", world.ht, team)
    keys = [t.reminder_key for t in tasks_of(world.ht).values()]
    with session_scope() as session:
        renewal = service.renew(
            session, principal(session, "doctor_d1"), first.id, today=first.ends_on
        )
    with session_scope() as session:
        ended = service.terminate(
            session, principal(session, "resident_ht"), first.id, reason="搬家到外省"
        )
    assert ended.status == "terminated" and ended.termination_reason == "搬家到外省"
    assert tasks_of(world.ht) == {}
    assert [outbox_status(k) for k in keys] == ["cancelled"] * 3
    with session_scope() as session:
        after = repository.get_contract(session, renewal.id)
        assert after is not None and after.status == "terminated"
        assert service.signed_persons(session) == set()
    with session_scope() as session, pytest.raises(ContractStateConflict):
        service.terminate(session, principal(session, "doctor_d1"), first.id, reason="again")
    assert audit_actions(first.id)[-1] == "terminate_family_doctor_contract"


# --- follow-up tasks ------------------------------------------------------------------------


def test_rerunning_the_schedule_creates_nothing_new(world, team):
    sign(world, "doctor_d1", world.ht, team, today=T0)
    with session_scope() as session:
        count_before = session.scalar(select(func.count()).select_from(FollowUpTask))
        messages_before = session.scalar(select(func.count()).select_from(OutboxMessage))
        first = service.refresh_tasks(session, principal(session, "official_d1"), today=T0)
        second = service.refresh_tasks(session, principal(session, "official_d1"), today=T0)
        assert first.created == second.created == 0 and first.contracts == 1
        assert session.scalar(select(func.count()).select_from(FollowUpTask)) == count_before == 3
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == messages_before


def test_tasks_past_due_turn_overdue_and_list_as_overdue_before_the_sweep(world, team):
    sign(world, "doctor_d1", world.ht, team)
    tomorrow = world.today + timedelta(days=1)
    # Due today: the check-up (never done); in about two months: the chronic follow-ups.
    due = {program: t.due_on for program, t in tasks_of(world.ht).items()}
    late = {program for program, day in due.items() if day < tomorrow}
    assert late == {"elderly_checkup"}
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        total, rows = service.list_tasks(
            session, doctor, limit=10, offset=0, status="overdue", today=tomorrow
        )
        assert total == 1 and {r.program for r in rows} == late
        assert rows[0].status == "pending"  # not stored yet, but read as overdue
        _, waiting = service.list_tasks(
            session, doctor, limit=10, offset=0, status="pending", today=tomorrow
        )
        assert {r.program for r in waiting} == set(due) - late
        summary = service.refresh_tasks(session, doctor, today=tomorrow)
        assert summary.overdue == 1
    assert {p: t.status for p, t in tasks_of(world.ht).items()} == {
        "elderly_checkup": "overdue",
        "hypertension": "pending",
        "diabetes": "pending",
    }


def test_recording_a_follow_up_schedules_the_next_and_withdraws_the_reminder(world, team):
    sign(world, "doctor_d1", world.ht, team, today=T0)
    task = tasks_of(world.ht)["hypertension"]
    day = task.due_on + timedelta(days=2)
    with session_scope() as session:
        done = service.record_followup(
            session,
            principal(session, "doctor_d1"),
            task.id,
            done_on=day,
            note="血压 132/84，继续服药",
            today=day,
        )
    assert done.task.status == "done" and done.task.done_on == day
    assert done.task.note == "血压 132/84，继续服药" and done.task.done_by == "doctor_d1"
    assert done.next_task is not None and done.next_task.due_on == add_months(day, 3)
    assert outbox_status(task.reminder_key) == "cancelled"
    assert outbox_status(done.next_task.reminder_key) == "pending"
    with session_scope() as session:
        doctor = principal(session, "doctor_d1")
        with pytest.raises(TaskStateConflict):
            service.record_followup(session, doctor, task.id, done_on=day, today=day)
        with pytest.raises(InvalidFollowUp, match="not happened"):
            service.record_followup(
                session, doctor, done.next_task.id, done_on=day + timedelta(days=1), today=day
            )
        with pytest.raises(InvalidFollowUp, match="last"):
            service.record_followup(
                session, doctor, done.next_task.id, done_on=day - timedelta(days=1), today=day
            )


def test_the_yearly_check_up_s_next_one_falls_in_the_renewal(world, team):
    first = sign(world, "doctor_d1", world.ht, team, today=T0)
    task = tasks_of(world.ht)["elderly_checkup"]
    with session_scope() as session:
        done = service.record_followup(
            session, principal(session, "doctor_d1"), task.id, done_on=T0, today=T0
        )
    assert done.next_task is None  # a year after T0 is past the term's last day
    with session_scope() as session:
        service.renew(session, principal(session, "doctor_d1"), first.id, today=first.ends_on)
        service.refresh_tasks(session, None, today=first.ends_on + timedelta(days=1))
    assert tasks_of(world.ht)["elderly_checkup"].due_on == add_months(T0, 12)


def test_a_programme_that_no_longer_applies_is_cancelled_and_comes_back_when_it_does(world, team):
    contract = sign(world, "doctor_d1", world.ht, team, today=T0)
    assert "diabetes" in tasks_of(world.ht)
    key_before = tasks_of(world.ht)["diabetes"].reminder_key
    cured = PersonFacts(age=68, sex="M", conditions=frozenset({"hypertension"}))
    with session_scope() as session:
        fresh = repository.get_contract(session, contract.id)
        assert fresh is not None
        created, cancelled = service.schedule_contracts(session, [fresh], T0, {world.ht: cured})
    assert (created, cancelled) == (0, 1)
    assert set(tasks_of(world.ht)) == {"hypertension", "elderly_checkup"}
    assert outbox_status(key_before) == "cancelled"
    with session_scope() as session:  # features from the EHR again: diabetes is back
        summary = service.refresh_tasks(session, None, today=T0)
    assert summary.created == 1
    reopened = tasks_of(world.ht)["diabetes"]
    assert reopened.reminder_key != key_before
    assert outbox_status(reopened.reminder_key) == "pending"


def test_staff_see_tasks_of_their_jurisdiction_and_residents_their_own(world, team):
    sign(world, "doctor_d1", world.ht, team, today=T0)
    with session_scope() as session:
        assert service.list_tasks(
            session, principal(session, "official_d2"), limit=10, offset=0, today=T0
        ) == (0, [])
        total, _ = service.list_tasks(
            session, principal(session, "resident_ht"), limit=10, offset=0, today=T0
        )
        assert total == 3
        assert service.list_tasks(
            session, principal(session, "resident_young"), limit=10, offset=0, today=T0
        ) == (0, [])


# --- referrals ------------------------------------------------------------------------------


def refer(world: World, who: str = "doctor_d2", **kw):
    values = {
        "person_id": world.d2,
        "from_provider_id": "PRVC2",
        "to_provider_id": "PRVH1",
        "reason": "血压控制不佳，需上级医院调整用药",
        "urgency": "urgent",
    } | kw
    with session_scope() as session:
        return service.refer(session, principal(session, who), **values)


def move(who: str, referral_id: str, status: str, note: str | None = None):
    with session_scope() as session:
        return service.move_referral(
            session, principal(session, who), referral_id, status=status, note=note
        )


def test_an_upward_referral_is_seen_by_both_ends_and_answered_by_the_receiving_one(world):
    view = refer(world)
    r = view.referral
    assert (r.direction, r.status, r.community_id) == ("up", "requested", "PRVH1")
    for who in ("official_d1", "official_d2", "doctor_d1", "admin1"):
        with session_scope() as session:
            assert service.visible_referral(session, principal(session, who), r.id)
    with session_scope() as session, pytest.raises(ReferralNotFound):
        service.visible_referral(session, principal(session, "official_d3"), r.id)
    with pytest.raises(NotReceivingEnd):
        move("doctor_d2", r.id, "accepted")
    move("doctor_d1", r.id, "accepted")
    with pytest.raises(ReferralStateConflict) as refused:
        move("doctor_d1", r.id, "completed")
    assert refused.value.extra == {"current": "accepted", "allowed": ["arrived"]}
    move("doctor_d1", r.id, "arrived")
    final = move("doctor_d1", r.id, "returned", note="病情稳定，转回社区继续管理")
    assert final.referral.status == "returned"
    assert [(e.status, e.actor) for e in final.events] == [
        ("requested", "doctor_d2"),
        ("accepted", "doctor_d1"),
        ("arrived", "doctor_d1"),
        ("returned", "doctor_d1"),
    ]
    assert final.events[-1].note == "病情稳定，转回社区继续管理"
    with session_scope() as session:
        total, views = service.list_referrals(
            session, principal(session, "official_d2"), limit=10, offset=0
        )
        assert total == 1 and views[0].referral.status == "returned"
        assert service.list_referrals(
            session, principal(session, "official_d3"), limit=10, offset=0
        ) == (0, [])
    assert audit_actions(r.id) == ["create_referral"] + ["move_referral"] * 3


def test_a_downward_referral_goes_back_to_the_village(world):
    view = refer(
        world,
        "doctor_d1",
        person_id=world.ht,
        from_provider_id="PRVH1",
        to_provider_id="PRVV1",
        reason="术后康复",
        urgency="routine",
    )
    assert view.referral.direction == "down"


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"to_provider_id": "PRVH2"}, InvalidReferral),  # another medical community
        ({"to_provider_id": "PRVC2"}, InvalidReferral),  # itself
        ({"to_provider_id": "PRVC1"}, InvalidReferral),  # the same level
        ({"from_provider_id": "PRVC1"}, ProviderNotFound),  # not the caller's provider
        ({"to_provider_id": "NOPE"}, ProviderNotFound),
        ({"person_id": "P" * 20}, PersonNotFound),
        ({"urgency": "whenever"}, InvalidReferral),
        ({"reason": "  "}, InvalidReferral),
    ],
)
def test_referrals_the_rules_refuse(world, changes, error):
    with pytest.raises(error):
        refer(world, **changes)


def test_an_ngo_takes_no_referral(world):
    with pytest.raises(InvalidReferral, match="no part"):
        refer(world, "doctor_d1", person_id=world.ht, from_provider_id="PRVN1")


def test_a_move_made_meanwhile_by_another_request_wins(world):
    r = refer(world).referral
    with session_scope() as session:
        moved = repository.move_referral(
            session, r.id, current="requested", target="accepted", now=datetime.now(UTC)
        )
        assert moved
        again = repository.move_referral(
            session, r.id, current="requested", target="rejected", now=datetime.now(UTC)
        )
        assert not again
    with pytest.raises(ReferralStateConflict):
        move("doctor_d1", r.id, "rejected", note="no bed")
