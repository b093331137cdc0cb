"""The 30-minute clock of a remote consultation, with an injected clock: started by the request,
stopped by the answer or a decline, voided by a cancellation, breached and alerted once by the
booking domain's sweep (and its CLI), shown in the specialist's queue; and the indicators."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from carematch.booking import clocks, sla
from carematch.consultation import service
from carematch.core.db import session_scope
from carematch.notifications.models import OutboxMessage
from tests.consultation.conftest import ask, principal

T0 = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)  # 09:00 in the city
MIN = timedelta(minutes=1)
KIND = sla.REMOTE_CONSULTATION


def sweep(at: datetime) -> clocks.SweepSummary:
    with session_scope() as session:
        return clocks.sweep(session, now=at)


def alerts() -> list[tuple[str, dict]]:
    with session_scope() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == "sla_alert")
        ).all()
        return sorted((m.recipient_id, json.loads(m.params)) for m in rows)


def act(username: str, what: str, cid: str, at: datetime, **kwargs) -> service.ConsultationView:
    with session_scope() as session:
        return getattr(service, what)(session, principal(session, username), cid, now=at, **kwargs)


def test_an_unanswered_request_breaches_after_30_minutes_and_the_specialists_are_alerted_once(
    world,
):
    cid = ask(world, now=T0)
    assert sweep(T0 + 30 * MIN).breached == 0  # an answer exactly at the deadline is in time
    act("specialist", "accept", cid, T0 + 10 * MIN)  # taking it does not stop the clock
    late = sweep(T0 + 31 * MIN)
    assert (late.breached, late.alerts) == (1, 1)
    # The consulting end's most local doctors are told, not the clinic that asked.
    ((recipient, params),) = alerts()
    assert recipient == world.users["specialist"]
    assert params["limit"] == "30分钟" and "远程会诊" in params["item"]
    assert sweep(T0 + 60 * MIN).breached == 0 and len(alerts()) == 1
    with session_scope() as session:
        queue = service.queue(session, principal(session, "specialist"), now=T0 + 40 * MIN)[1]
        assert [(v.consultation.id, v.clock.breached) for v in queue] == [(cid, True)]
        assert queue[0].clock.remaining == -10 * MIN
        breaches = clocks.open_breaches(
            session, principal(session, "specialist"), now=T0 + 40 * MIN
        )
        assert [(b.kind, b.subject_id) for b in breaches] == [(KIND, cid)]
    # A late answer is recorded and the breach stays.
    view = act("specialist", "answer", cid, T0 + 45 * MIN, findings="窦性心律")
    assert view.clock.state == "breached" and view.turnaround == 45 * MIN


def test_an_answer_or_a_decline_in_time_stops_the_clock_and_a_cancellation_voids_it(world):
    answered = ask(world, now=T0)
    act("specialist", "accept", answered, T0 + MIN)
    act("specialist", "answer", answered, T0 + 20 * MIN, findings="未见异常")
    declined = ask(world, now=T0)
    act("specialist", "decline", declined, T0 + 5 * MIN, reason="请转超声科")
    cancelled = ask(world, now=T0)
    act("clinic_doc", "cancel", cancelled, T0 + 2 * MIN, reason="患者已转院")
    waiting = ask(world, now=T0 + 10 * MIN)
    assert sweep(T0 + 2 * 60 * MIN).breached == 1  # only the one still waiting
    with session_scope() as session:
        states = {
            cid: clocks.state_of(clocks.clock_of(session, KIND, cid), T0 + 3 * 60 * MIN)
            for cid in (answered, declined, cancelled, waiting)
        }
        counts = clocks.clock_counts(session, now=T0 + 3 * 60 * MIN, kind=KIND)
    assert states == {
        answered: sla.ClockState.MET,
        declined: sla.ClockState.MET,
        cancelled: sla.ClockState.VOID,
        waiting: sla.ClockState.BREACHED,
    }
    assert (counts.met, counts.void, counts.breached, counts.running) == (2, 1, 1, 0)


def test_the_booking_sla_command_sweeps_consultation_clocks(world):
    from typer.testing import CliRunner

    from carematch.cli import app

    ask(world, now=datetime.now(UTC) - 31 * MIN)
    first = CliRunner().invoke(app, ["booking", "sla"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["breached"] == 1
    assert json.loads(CliRunner().invoke(app, ["booking", "sla"]).stdout)["breached"] == 0


def test_indicators_count_requests_per_period_with_the_median_turnaround(world):
    march, april = T0, T0 + timedelta(days=31)
    waits = {march: [10, 20, 60], april: [5]}
    for start, minutes in waits.items():
        for m in minutes:
            cid = ask(world, now=start)
            act("specialist", "accept", cid, start + MIN)
            act("specialist", "answer", cid, start + m * MIN, findings="见报告")
    act("clinic_doc", "cancel", ask(world, now=april), april + MIN, reason="重复申请")
    with session_scope() as session:
        stats = service.indicator_stats(
            session, since=date(2030, 3, 1), until=date(2030, 5, 1), region="449901"
        )
        elsewhere = service.indicator_stats(
            session, since=date(2030, 3, 1), until=date(2030, 5, 1), region="449902"
        )
    assert [s.as_dict() for s in stats] == [
        {
            "period": "2030-03",
            "requested": 3,
            "by_status": {"answered": 3},
            "answered": 3,
            "median_turnaround_minutes": 20.0,
        },
        {
            "period": "2030-04",
            "requested": 2,
            "by_status": {"answered": 1, "cancelled": 1},
            "answered": 1,
            "median_turnaround_minutes": 5.0,
        },
    ]
    assert elsewhere == []
