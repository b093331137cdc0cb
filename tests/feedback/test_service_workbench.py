"""What the workbench asks of the feedback service (SQLite and PostgreSQL): complaints by
deadline, open only, by channel; who handles a complaint; the workload counters."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from carematch.core.db import session_scope
from carematch.feedback import service
from carematch.feedback.complaints import TERMINAL, is_overdue
from carematch.feedback.deadlines import category_table
from carematch.feedback.errors import InvalidComplaint
from carematch.feedback.flags import LowRatingRule, PeriodMean
from carematch.feedback.models import Complaint
from tests.feedback.conftest import NOW, PinnedClock, World, build_world, principal


def filed(username: str, category: str = "service_attitude", **fields) -> str:
    fields.setdefault("channel", None)
    with session_scope() as session:
        return service.file_complaint(
            session, principal(username), category=category, text="投诉内容", **fields
        ).complaint.id


def moved(complaint_id: str, *steps: tuple[str, str | None]) -> None:
    with session_scope() as session:
        for to, note in steps:
            service.transition_complaint(session, principal("official_d1"), complaint_id, to, note)


def listing(username: str, **filters) -> list[str]:
    with session_scope() as session:
        _, views = service.list_complaints(
            session, principal(username), limit=50, offset=0, **filters
        )
        return [v.complaint.id for v in views]


def test_complaints_list_by_deadline_open_only_and_by_channel(world: World):
    ordinary = filed("resident1", provider_id=world.provider_d1)  # 5 working days
    urgent = filed("resident1", "medical_safety", provider_id=world.provider_d1)  # 24 hours
    privacy = filed("resident1", "privacy", provider_id=world.provider_d1)  # 3 working days
    hotline = filed(
        "grid_d1", "fees", channel="hotline_12345", provider_id=world.provider_d1, contact="1"
    )  # 10 working days
    refused = filed("resident1", provider_id=world.provider_d1)
    moved(refused, ("rejected", "重复投诉"))

    assert listing("official_d1", by_deadline=True, open_only=True) == [
        urgent,
        privacy,
        ordinary,
        hotline,
    ]
    assert refused in listing("official_d1")
    assert listing("official_d1", channel="hotline_12345") == [hotline]
    assert refused not in listing("official_d1", open_only=True)
    assert listing("official_d2", open_only=True) == []
    # Who handles what the list shows: an official of the complaint's region, or admin.
    with session_scope() as session:
        complaint = session.get(Complaint, ordinary)
        assert complaint is not None
        handles = {
            user: service.may_handle(principal(user), complaint)
            for user in ("official_d1", "official_d2", "admin1", "grid_d1", "doctor_d1")
        }
    assert handles == {
        "official_d1": True,
        "official_d2": False,
        "admin1": True,
        "grid_d1": False,
        "doctor_d1": False,
    }
    official = principal("official_d1")
    with pytest.raises(InvalidComplaint, match="status"), session_scope() as session:
        service.list_complaints(session, official, limit=1, offset=0, status="bogus")
    with pytest.raises(InvalidComplaint, match="channel"), session_scope() as session:
        service.list_complaints(session, official, limit=1, offset=0, channel="fax")


def test_the_workload_counts_open_and_overdue_work_in_the_jurisdiction(
    world: World, pinned: PinnedClock
):
    late_soon = filed("resident1", "medical_safety", provider_id=world.provider_d1)
    filed("resident1", provider_id=world.provider_d1)
    filed("resident2", provider_id=world.provider_d2)
    closed = filed("resident1", provider_id=world.provider_d1)
    moved(closed, ("accepted", None), ("answered", "已答复"), ("closed", None))
    with session_scope() as session:
        _, items = service.open_finding(
            session,
            principal("official_d1"),
            source="complaint",
            complaint_id=closed,
            text="属实",
            items=[
                service.ItemDraft(measure="整改一", deadline=date(2026, 3, 3)),
                service.ItemDraft(measure="整改二", deadline=date(2026, 3, 30)),
                service.ItemDraft(measure="整改三", deadline=date(2026, 3, 30)),
            ],
        )
        service.update_item(
            session, principal("doctor_d1"), items[2].item.id, status="done", evidence_text="已改"
        )
        service.recompute_flags(
            session,
            principal("official_d1"),
            LowRatingRule(periods=1),
            means=[PeriodMean(world.provider_d1, "2025-12", 2.0, 9)],
        )
    pinned.at = NOW + timedelta(days=2)  # the urgent complaint and the first item are late

    with session_scope() as session:
        d1 = service.workload(session, principal("official_d1"))
        d2 = service.workload(session, principal("official_d2"))
        city = service.workload(session, principal("admin1"))

    assert d1 == service.Workload(
        complaints_open=2,
        complaints_overdue=1,
        items_open=2,
        items_overdue=1,
        items_done=1,
        flags=1,
    )
    assert (d2.complaints_open, d2.complaints_overdue, d2.items_open, d2.flags) == (1, 0, 0, 0)
    assert city.complaints_open == 3
    assert late_soon in listing("official_d1", overdue=True)


# --- a property over any mix of complaints (SQLite: the invariant is the service's) ----------

CATEGORIES = sorted(category_table().codes)
FATES = ("open", "rejected", "closed")


@pytest.fixture
def sqlite_world(sqlite_env, tmp_path: Path, pinned: PinnedClock) -> tuple[World, PinnedClock]:
    return build_world(tmp_path), pinned


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    complaints=st.lists(
        st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(FATES)), min_size=0, max_size=6
    ),
    later=st.integers(min_value=0, max_value=20 * 24),
    page=st.integers(min_value=1, max_value=4),
)
def test_paging_by_deadline_shows_every_open_complaint_once_in_order(
    sqlite_world, complaints, later, page
):
    world, clock = sqlite_world
    for category, fate in complaints:
        cid = filed("resident1", category, provider_id=world.provider_d1)
        if fate == "rejected":
            moved(cid, ("rejected", "不予受理"))
        elif fate == "closed":
            moved(cid, ("accepted", None), ("answered", "已答复"), ("closed", None))
    clock.at = clock.at + timedelta(hours=later)
    official = principal("official_d1")

    with session_scope() as session:
        truth = [c for c in session.scalars(select(Complaint)) if c.status not in TERMINAL]
        seen: list[service.ComplaintView] = []
        total = None
        while total is None or len(seen) < total:
            total, views = service.list_complaints(
                session, official, limit=page, offset=len(seen), open_only=True, by_deadline=True
            )
            assert views or len(seen) == total
            seen += views
        work = service.workload(session, official)

    assert sorted(v.complaint.id for v in seen) == sorted(c.id for c in truth)
    dues = [service.as_utc(v.complaint.due_at) for v in seen]
    assert dues == sorted(dues)
    assert work.complaints_open == len(truth)
    late = [c for c in truth if is_overdue(c.status, service.as_utc(c.due_at), clock.at)]
    assert work.complaints_overdue == len(late)
    assert [v.overdue for v in seen] == [
        is_overdue(v.complaint.status, due, clock.at) for v, due in zip(seen, dues, strict=True)
    ]
