"""Follow-up reminders after a dose: the plan from the data file, and the outbox, exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from carematch.vaccination.followup import (
    FollowupFileError,
    parse_reminders,
    plan,
    schedule_followups,
    shipped_reminders,
)
from carematch.vaccination.schedule import default_schedule

SCHEDULE = default_schedule()
REMINDERS = shipped_reminders(SCHEDULE)
# 10:00 in the city (UTC+8) on 1 March 2026.
GIVEN = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def planned(series: str, now: datetime = GIVEN) -> dict[str, datetime]:
    return {p.reminder.id: p.due_at for p in plan(REMINDERS, SCHEDULE, series, GIVEN, now)}


def test_mmr_reminds_of_the_rash_window_on_day_6_at_nine_city_time():
    got = planned("MMR")
    assert got["observation-30min"] == GIVEN
    assert got["measles-rash-window"] == datetime(2026, 3, 7, 1, 0, tzinfo=UTC)
    assert "bcg-local-ulcer" not in got
    assert "live-vaccine-week2" in got


def test_bcg_reminds_of_the_ulcer_weeks_later_and_an_inactivated_vaccine_gets_the_basics():
    assert planned("BCG")["bcg-local-ulcer"] == datetime(2026, 3, 15, 1, 0, tzinfo=UTC)
    assert set(planned("HepB")) == {"observation-30min", "day1-check"}


def test_a_dose_recorded_late_skips_stale_reminders_and_sends_recent_ones_now():
    now = GIVEN + timedelta(days=3)
    got = planned("MMR", now)
    assert "observation-30min" not in got and "day1-check" not in got
    assert got["measles-rash-window"] > now
    just_late = planned("HepB", GIVEN + timedelta(hours=2))
    assert just_late["observation-30min"] == GIVEN + timedelta(hours=2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(applies_to=["Ebola"]), "unknown series"),
        (lambda r: r.update(send={"day": 6}), "send is"),
        (lambda r: r.update(send={"day": 6, "at": "25:00"}), "HH:MM"),
        (lambda r: r.update(channel="pigeon"), "channel"),
        (lambda r: r.pop("advice"), "advice"),
    ],
)
def test_a_broken_reminders_file_is_refused(change, message):
    data = yaml.safe_load(Path("carematch/vaccination/followup_reminders.yaml").read_text("utf-8"))
    change(data["reminders"][2])
    with pytest.raises(FollowupFileError, match=message):
        parse_reminders(data, SCHEDULE)


def test_schedule_followups_enqueues_each_reminder_once(sqlite_env):
    with session_scope() as session:
        first = schedule_followups(session, "P1", "MMR", 1, GIVEN, now=GIVEN)
        again = schedule_followups(session, "P1", "MMR", 1, GIVEN + timedelta(hours=1), now=GIVEN)
        other_dose = schedule_followups(session, "P1", "MMR", 2, GIVEN, now=GIVEN)
    with session_scope() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.due_at)).all()
        keys = [r.dedupe_key for r in rows]
        templates = {r.template for r in rows}
    assert first == len(planned("MMR")) == other_dose and again == 0
    assert len(keys) == len(set(keys)) == 2 * first
    assert "vaccination-followup:P1:MMR:1:measles-rash-window" in keys
    assert templates == {"vaccination_followup"}


def test_schedule_followups_refuses_an_unknown_series(sqlite_env):
    with session_scope() as session, pytest.raises(Exception, match="unknown vaccine series"):
        schedule_followups(session, "P1", "Ebola", 1, GIVEN)
