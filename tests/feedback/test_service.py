"""Feedback use cases against the database, where the API cannot stage the story."""

from __future__ import annotations

import pytest

from carematch.core.db import session_factory, session_scope
from carematch.feedback import service
from carematch.feedback.errors import ComplaintStateConflict
from carematch.feedback.flags import LowRatingRule, PeriodMean
from carematch.feedback.models import Complaint
from tests.feedback.conftest import audit_actions, principal


def test_two_officials_moving_one_complaint_at_once_cannot_both_win(world):
    official = principal("official_d1")
    admin = principal("admin1")
    with session_scope() as session:
        complaint_id = service.file_complaint(
            session,
            principal("resident1"),
            channel=None,
            category="service_quality",
            text="候诊三小时无人叫号",
            provider_id=world.provider_d1,
        ).complaint.id

    slow = session_factory()()
    try:
        # The slow official has read the complaint while it was still received (held, so the
        # session keeps that copy) …
        stale = slow.get(Complaint, complaint_id)
        assert stale is not None and stale.status == "received"
        # … when the other one rejects it.
        with session_scope() as fast:
            service.transition_complaint(fast, admin, complaint_id, "rejected", "重复投诉")

        with pytest.raises(ComplaintStateConflict):
            service.transition_complaint(slow, official, complaint_id, "accepted", None)
        slow.rollback()
    finally:
        slow.close()

    with session_scope() as session:
        view = service.read_complaint(session, admin, complaint_id)
        assert view.complaint.status == "rejected"
        assert [e.to_status for e in view.events] == ["received", "rejected"]
    transitions = [a for _, a, _ in audit_actions(complaint_id) if a == "complaint_transition"]
    assert transitions == ["complaint_transition"]


def test_recompute_reads_period_means_and_flags_once(world):
    official = principal("official_d1")
    rule = LowRatingRule(threshold=3.0, min_ratings=5, periods=3)
    means = [PeriodMean(world.provider_d1, f"2025-{m:02d}", 2.5, 8) for m in (6, 7, 8)]
    means.append(PeriodMean(world.provider_d1, "2025-09", 4.5, 8))
    means += [PeriodMean(world.provider_d1, f"2025-{m:02d}", 2.5, 8) for m in (10, 11)]

    with session_scope() as session:
        first = service.recompute_flags(session, official, rule, as_of=None, means=means)
    with session_scope() as session:
        second = service.recompute_flags(session, official, rule, as_of=None, means=means)
        total, flags = service.list_flags(session, official, limit=10, offset=0)

    assert (first.new, second.new, second.unchanged) == (1, 0, 1)
    assert total == 1
    assert (flags[0].first_period, flags[0].last_period) == ("2025-06", "2025-08")
    assert [m.mean for m in service.flag_evidence(flags[0])] == [2.5, 2.5, 2.5]
