"""The follow-up schedule engine, without a database: calendar, planning rules, packages file."""

from __future__ import annotations

import calendar
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.familydoctor.errors import PackageFileError
from carematch.familydoctor.schedule import (
    Eligibility,
    PersonFacts,
    TaskState,
    Term,
    add_months,
    default_catalogue,
    is_overdue,
    next_due,
    parse_catalogue,
    plan_next,
)
from carematch.providers.catalogue import service_catalogue

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


# --- calendar -------------------------------------------------------------------------------


@given(DAYS, st.integers(min_value=1, max_value=36))
def test_a_month_interval_is_never_shorter_than_the_calendar_says(day: date, months: int):
    later = add_months(day, months)
    moved = (later.year * 12 + later.month) - (day.year * 12 + day.month)
    if moved == months:
        assert later.day == day.day
    else:  # the target month lacks the day: rolled to the 1st of the month after
        assert moved == months + 1 and later.day == 1
        year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
        assert calendar.monthrange(year, month + 1)[1] < day.day
    assert (later - day).days >= 28 * months


@given(DAYS, DAYS, st.integers(min_value=1, max_value=24))
def test_month_arithmetic_keeps_the_order_of_days(a: date, b: date, months: int):
    if a <= b:
        assert add_months(a, months) <= add_months(b, months)


def test_month_ends_roll_forward_rather_than_back():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 3, 1)
    assert add_months(date(2028, 1, 30), 1) == date(2028, 3, 1)
    assert add_months(date(2028, 1, 29), 1) == date(2028, 2, 29)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 3, 1)


@given(DAYS)
def test_a_term_is_one_year_and_the_next_follows_without_a_gap(start: date):
    term = Term.of_year(start)
    assert (term.ends_on - term.starts_on).days + 1 in (365, 366)
    assert term.covers(start) and term.covers(term.ends_on)
    assert not term.covers(start - timedelta(days=1))
    following = term.next()
    assert following.starts_on == term.ends_on + timedelta(days=1)
    assert not following.covers(term.ends_on)


# --- planning -------------------------------------------------------------------------------


def test_never_followed_up_is_due_on_the_first_day_of_the_term():
    term = Term.of_year(date(2026, 4, 10))
    assert next_due(term, 3, None) == date(2026, 4, 10)
    assert plan_next(term, 3, []) == date(2026, 4, 10)


def test_a_recent_follow_up_pushes_the_first_task_to_its_interval():
    term = Term.of_year(date(2026, 4, 10))
    assert plan_next(term, 3, [], outside_followup=date(2026, 3, 20)) == date(2026, 6, 20)
    # Followed up long ago: due at once, on the term's first day, not in the past.
    assert plan_next(term, 3, [], outside_followup=date(2025, 1, 5)) == date(2026, 4, 10)


def test_an_open_task_blocks_the_next_and_a_done_one_sets_it():
    term = Term.of_year(date(2026, 1, 1))
    assert plan_next(term, 3, [TaskState(date(2026, 1, 1))]) is None
    # Done late (a month after it was due): three months from the follow-up itself.
    late = [TaskState(date(2026, 1, 1), done_on=date(2026, 2, 3))]
    assert plan_next(term, 3, late) == date(2026, 5, 3)
    # Done early: not sooner than three months after the task's due date.
    early = [TaskState(date(2026, 4, 1), done_on=date(2026, 3, 2))]
    assert plan_next(term, 3, early) == date(2026, 7, 1)


def test_nothing_is_due_after_the_term():
    term = Term.of_year(date(2026, 1, 1))
    done = [TaskState(date(2026, 10, 1), done_on=date(2026, 10, 20))]
    assert plan_next(term, 3, done) is None  # 2027-01-20 is past 2026-12-31
    assert plan_next(term.next(), 3, done) == date(2027, 1, 20)


def test_overdue_from_the_day_after_the_due_date():
    assert not is_overdue(date(2026, 5, 1), date(2026, 5, 1))
    assert is_overdue(date(2026, 5, 1), date(2026, 5, 2))


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["plan", "plan", "done", "advance"]), st.integers(0, 120)),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(
    start=DAYS,
    every=st.integers(min_value=1, max_value=12),
    outside_offset=st.one_of(st.none(), st.integers(min_value=-800, max_value=30)),
    actions=ACTIONS,
)
def test_a_simulated_term_keeps_every_rule(start, every, outside_offset, actions):
    """Plan, do follow-ups on random days, let time pass, plan again: at most one task is open,
    tasks never overlap (each due ≥ the previous due + the interval), none is due sooner than
    the interval after a follow-up or outside the term, and a rerun plans nothing new."""
    term = Term.of_year(start)
    outside = start + timedelta(days=outside_offset) if outside_offset is not None else None
    today = start
    tasks: list[TaskState] = []
    for action, n in actions:
        if action == "advance":
            today += timedelta(days=n)
        elif action == "plan":
            followups = [t.done_on for t in tasks if t.done_on] + ([outside] if outside else [])
            due = plan_next(term, every, tasks, outside)
            if due is not None:
                assert not any(t.open for t in tasks)
                assert term.covers(due)
                if followups:
                    assert due >= add_months(max(followups), every)
                tasks.append(TaskState(due))
                assert plan_next(term, every, tasks, outside) is None  # rerun: nothing new
        else:  # the open task's follow-up is done on a day after the last one, up to today
            open_tasks = [t for t in tasks if t.open]
            if open_tasks:
                (task,) = open_tasks
                last = max((t.done_on for t in tasks if t.done_on), default=None)
                done_on = max(today - timedelta(days=n), last or date.min)
                tasks[tasks.index(task)] = TaskState(task.due_on, done_on)
        assert sum(t.open for t in tasks) <= 1
    dues = [t.due_on for t in tasks]
    assert dues == sorted(dues) and len(set(dues)) == len(dues)
    for earlier, later in itertools.pairwise(dues):
        assert later >= add_months(earlier, every)
    if tasks:
        first = max([start] + ([add_months(outside, every)] if outside else []))
        assert dues[0] == first


# --- the packages file ----------------------------------------------------------------------


def test_the_packaged_file_has_a_free_basic_package_and_the_brief_s_frequencies():
    book = default_catalogue()
    basic = book.basic
    assert basic.code == "basic" and basic.price == 0 and basic.free
    assert basic.followups["hypertension"] == 3
    assert basic.followups["diabetes"] == 3
    assert basic.followups["severe_mental_disorder"] == 1
    assert basic.followups["elderly_checkup"] == 12
    paid = [p for p in book.packages.values() if not p.free]
    assert {p.code for p in paid} >= {"elderly", "chronic", "maternal", "child"}
    for package in paid:
        assert package.price > 0 and package.includes == "basic"
        # A paid package keeps every basic follow-up, never less often.
        for program, every in basic.followups.items():
            assert package.followups[program] <= every
        assert set(basic.services) <= set(package.services)
    known = set(service_catalogue())
    for package in book.packages.values():
        assert set(package.services) <= known
    assert {p.service for p in book.programs.values()} <= known


def test_a_schedule_is_the_package_s_programmes_that_apply_to_the_person():
    book = default_catalogue()
    elderly_ht = PersonFacts(age=68, sex="M", conditions=frozenset({"hypertension"}))
    assert book.schedule_for(book.packages["basic"], elderly_ht) == {
        "hypertension": 3,
        "elderly_checkup": 12,
    }
    assert book.schedule_for(book.packages["chronic"], elderly_ht) == {
        "hypertension": 1,
        "elderly_checkup": 12,
    }
    child = PersonFacts(age=4, sex="F")
    assert book.schedule_for(book.packages["child"], child) == {"child_health": 3}
    assert book.schedule_for(book.packages["basic"], PersonFacts()) == {}


def test_eligibility_says_why_a_person_may_not_sign():
    rule = Eligibility(min_age=60)
    assert rule.refusal(PersonFacts(age=60)) is None
    assert "60" in (rule.refusal(PersonFacts(age=59)) or "")
    assert rule.refusal(PersonFacts()) is not None  # age unknown: not shown to be eligible
    chronic = default_catalogue().packages["chronic"].eligibility
    assert chronic.refusal(PersonFacts(conditions=frozenset({"diabetes"}))) is None
    assert chronic.refusal(PersonFacts(conditions=frozenset({"anxiety"}))) is not None
    maternal = default_catalogue().packages["maternal"].eligibility
    assert maternal.refusal(PersonFacts(sex="F", conditions=frozenset({"pregnancy"}))) is None
    assert maternal.refusal(PersonFacts(sex="F")) is not None


GOOD = """
programs:
  hypertension: {name: 高血压, name_en: Hypertension, condition: hypertension, chronic: true,
                 service: chronic_followup}
  elderly: {name: 老年人, name_en: Elderly, min_age: 65, service: elderly_checkup}
packages:
  basic: {name: 基础, name_en: Basic, price: "0.00", followups: {hypertension: 3, elderly: 12}}
  plus: {name: 加强, name_en: Plus, price: "99.50", includes: basic, followups: {hypertension: 1}}
"""


def test_an_included_package_s_frequencies_are_overridden_not_lost():
    book = parse_catalogue(GOOD, service_catalogue())
    assert dict(book.packages["plus"].followups) == {"hypertension": 1, "elderly": 12}
    assert str(book.packages["plus"].price) == "99.50"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("chronic: true", "chronic: yes please"), "chronic"),
        (("min_age: 65", "min_age: 65, condition: x"), "one of the two"),
        (("min_age: 65", "min_age: -1"), "min_age"),
        (('price: "99.50"', 'price: "abc"'), "not a number"),
        (('price: "99.50"', "price: 99.5"), "string"),
        (('price: "99.50"', 'price: "0.00"'), "exactly one package is free"),
        (("includes: basic", "includes: gold"), "unknown package"),
        (("{hypertension: 1}", "{hypertension: 0}"), "every 1 to"),
        (("{hypertension: 1}", "{diabetes: 1}"), "unknown programme"),
        (("service: elderly_checkup", "service: no_such_service"), "service catalogue"),
        (("name_en: Plus,", "name_en: Plus, colour: red,"), "unknown keys"),
    ],
)
def test_a_malformed_file_is_refused_at_load(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(PackageFileError, match=message):
        parse_catalogue(GOOD.replace(old, new, 1), service_catalogue())


def test_a_package_including_itself_is_refused():
    looped = GOOD.replace("includes: basic", "includes: plus")
    with pytest.raises(PackageFileError, match="includes itself"):
        parse_catalogue(looped)
