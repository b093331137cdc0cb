"""SLA clocks as stored rows: started, answered, voided, swept for breaches, counted.

The rules live in the pure engine :mod:`carematch.booking.sla` (24 h for a raised demand, 30 min
for an online consultation, calendar time); this module applies them to the ``sla_clocks``
table. Where each clock comes from:

- **demand_response**: profiling raises demands in batches without telling anyone, so
  :func:`sweep` finds the open demands that have no clock yet and starts one at the demand's
  ``first_seen_at``. A booking made for the demand (found then, or made later) answers it, as
  do a contact staff record on the workbench (:func:`record_contact`) and a service record
  that serves the demand. A clock whose demand stops being open without an answer (profiling
  closed it: the need no longer applies) is voided when the sweep sees it.
- **online_consultation**: started when an ``online_consultation`` booking is made, at the later
  of the booking and its slot's start; answered by the check-in (the doctor takes the
  consultation) or the service record; voided by a cancellation or a no-show; moved by a
  reschedule while it runs.

:func:`sweep` (``carematch booking sla``, run every few minutes by cron or a timer) records
each breach once, at its deadline, and enqueues one ``sla_alert`` per breach to each
responsible staff member: the active doctors and officials of the most local level whose
jurisdiction holds the clock's region. The workbench and the indicators do not depend on the
sweep having run: they evaluate the rule at read time (:func:`clock_counts`,
:func:`open_breaches`), in SQL that states the engine's rule.

Services flush and never commit; the edge commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from carematch.booking import reminders, repository, sla
from carematch.booking.errors import SlaClockNotFound, SlaClockStateConflict
from carematch.booking.models import Booking, ServiceRecord, SlaClock, Slot
from carematch.booking.service import ID_PATTERN
from carematch.core.clock import utcnow
from carematch.core.ids import stable_id
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.providers.catalogue import service_catalogue
from carematch.security import audit
from carematch.security.authz import Principal
from carematch.security.jurisdiction import region_prefix, within

# Who is alerted to a breach: those who can act on a need in their area.
ALERTED_ROLES = ("doctor", "official")
SYSTEM = Principal("system", "system", "admin", None)
PAGE = 1000

# How a clock was answered.
BY_BOOKING = "booking"
BY_CONTACT = "contact"
BY_CHECK_IN = "check_in"
BY_SERVICE_RECORD = "service_record"


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def clock_id(kind: str, subject_id: str) -> str:
    """The stable id of a kind's clock on a subject (a rerun finds the same clock)."""
    return stable_id("K", kind, subject_id)[:32]


def engine_clock(row: SlaClock) -> sla.Clock:
    """A stored clock as the engine's value."""
    started = _utc(row.started_at)
    return sla.Clock(
        started_at=started,
        limit=_utc(row.deadline_at) - started,
        answered_at=_utc(row.answered_at) if row.answered_at else None,
        voided_at=_utc(row.voided_at) if row.voided_at else None,
    )


def state_of(row: SlaClock, now: datetime | None = None) -> sla.ClockState:
    """A stored clock's state at ``now`` (default: the present)."""
    return sla.state_at(engine_clock(row), _utc(now or utcnow()))


def _row(
    kind: str,
    subject_id: str,
    *,
    person_id: str,
    service: str,
    started_at: datetime,
    region_code: str | None,
    provider_id: str | None = None,
    now: datetime,
) -> dict[str, object]:
    started = _utc(started_at)
    return {
        "id": clock_id(kind, subject_id),
        "kind": kind,
        "subject_id": subject_id,
        "person_id": person_id,
        "service": service,
        "provider_id": provider_id,
        "region_code": region_code,
        "started_at": started,
        "deadline_at": started + sla.rule(kind).limit,
        "created_at": now,
    }


# --- events from bookings and service records -----------------------------------------------


def on_booked(session: Session, booking: Booking, slot: Slot, now: datetime) -> None:
    """A booking was made: it answers its demand's clock; an online consultation starts one."""
    now = _utc(now)
    if booking.demand_id:
        repository.answer_clocks(
            session,
            sla.DEMAND_RESPONSE,
            [booking.demand_id],
            at=now,
            answer=BY_BOOKING,
            answered_by=booking.created_by,
        )
    if slot.service == sla.ONLINE_CONSULTATION:
        start = max(now, _utc(slot.starts_at))
        repository.insert_clocks(
            session,
            [
                _row(
                    sla.ONLINE_CONSULTATION,
                    booking.id,
                    person_id=booking.person_id,
                    service=slot.service,
                    started_at=start,
                    region_code=slot.region_code,
                    provider_id=slot.provider_id,
                    now=now,
                )
            ],
        )


def on_rescheduled(session: Session, booking: Booking, slot: Slot, now: datetime) -> None:
    """A booking moved: a running consultation clock restarts from the new slot's start."""
    if slot.service != sla.ONLINE_CONSULTATION:
        return
    existing = repository.clock_for(session, sla.ONLINE_CONSULTATION, booking.id)
    now = _utc(now)
    if existing is None or state_of(existing, now) is not sla.ClockState.RUNNING:
        return  # a breach stays a breach
    start = max(now, _utc(slot.starts_at))
    repository.restart_clock(
        session,
        sla.ONLINE_CONSULTATION,
        booking.id,
        started_at=start,
        deadline_at=start + sla.rule(sla.ONLINE_CONSULTATION).limit,
    )


def on_checked_in(session: Session, booking_id: str, actor: str, now: datetime) -> None:
    """The doctor took the consultation: its clock is answered."""
    repository.answer_clocks(
        session,
        sla.ONLINE_CONSULTATION,
        [booking_id],
        at=_utc(now),
        answer=BY_CHECK_IN,
        answered_by=actor,
    )


def on_withdrawn(session: Session, booking_id: str, reason: str, now: datetime) -> None:
    """A booking was cancelled or missed: its consultation clock stops without an answer."""
    repository.void_clocks(
        session, sla.ONLINE_CONSULTATION, [booking_id], at=_utc(now), reason=reason
    )


def on_service_record(session: Session, record: ServiceRecord, now: datetime) -> None:
    """A service record answers its booking's consultation clock and its demands' clocks."""
    now = _utc(now)
    demand_ids = record.demand_ids.split()
    if demand_ids:
        repository.answer_clocks(
            session,
            sla.DEMAND_RESPONSE,
            demand_ids,
            at=now,
            answer=BY_SERVICE_RECORD,
            answered_by=record.recorded_by,
        )
    if record.booking_id:
        repository.answer_clocks(
            session,
            sla.ONLINE_CONSULTATION,
            [record.booking_id],
            at=now,
            answer=BY_SERVICE_RECORD,
            answered_by=record.recorded_by,
        )


# --- clocks of other domains ---------------------------------------------------------------


def start_clock(
    session: Session,
    kind: str,
    subject_id: str,
    *,
    person_id: str,
    service: str,
    started_at: datetime,
    region_code: str | None,
    provider_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Start a clock of ``kind`` on another domain's subject (a remote consultation); the
    sweep breaches and alerts it like any other. Starting it again changes nothing.

    Raises:
        KeyError: ``kind`` has no rule in :mod:`carematch.booking.sla`.
    """
    sla.rule(kind)
    repository.insert_clocks(
        session,
        [
            _row(
                kind,
                subject_id,
                person_id=person_id,
                service=service,
                started_at=started_at,
                region_code=region_code,
                provider_id=provider_id,
                now=_utc(now or utcnow()),
            )
        ],
    )


def answer_clock(
    session: Session, kind: str, subject_id: str, *, at: datetime, answer: str, answered_by: str
) -> bool:
    """Stop a running clock with an answer (``answer`` names how, at most 16 characters);
    False when it was stopped already."""
    return (
        repository.answer_clocks(
            session, kind, [subject_id], at=_utc(at), answer=answer, answered_by=answered_by
        )
        == 1
    )


def void_clock(session: Session, kind: str, subject_id: str, *, at: datetime, reason: str) -> bool:
    """Stop a running clock without an answer (the need went away); False when stopped."""
    return repository.void_clocks(session, kind, [subject_id], at=_utc(at), reason=reason) == 1


def clock_of(session: Session, kind: str, subject_id: str) -> SlaClock | None:
    """The clock of a kind on a subject, if one was started."""
    return repository.clock_for(session, kind, subject_id)


# --- staff actions --------------------------------------------------------------------------


def visible_clock(session: Session, principal: Principal, clock_id_: str) -> SlaClock:
    """A clock in the principal's jurisdiction.

    Raises:
        SlaClockNotFound: no such clock, or outside the jurisdiction (or the caller is a
            resident: clocks are the staff's work).
    """
    row = repository.get_clock(session, clock_id_) if ID_PATTERN.match(clock_id_) else None
    if row is None or principal.role == "resident" or not principal.can_see(row.region_code):
        raise SlaClockNotFound(f"no SLA clock {clock_id_}")
    return row


def record_contact(
    session: Session, principal: Principal, clock_id_: str, *, now: datetime | None = None
) -> SlaClock:
    """Staff record that they contacted the person about a raised demand: the clock is answered.

    Recording it again changes nothing. Audited (a contact is an act on a person's record).

    Raises:
        SlaClockNotFound: not visible to the caller.
        SlaClockStateConflict: not a demand clock (a consultation is answered by taking it), or
            the clock was voided (the demand went away).
    """
    now = _utc(now or utcnow())
    row = visible_clock(session, principal, clock_id_)
    if row.kind != sla.DEMAND_RESPONSE:
        raise SlaClockStateConflict("an online consultation is answered by taking it (check-in)")
    if row.answered_at is not None:
        return row
    if row.voided_at is not None:
        raise SlaClockStateConflict("the demand is no longer open")
    repository.answer_clocks(
        session,
        row.kind,
        [row.subject_id],
        at=now,
        answer=BY_CONTACT,
        answered_by=principal.username,
    )
    audit.record(
        session,
        actor=principal.username,
        action="record_contact",
        entity="sla_clock",
        entity_id=row.id,
        detail={"kind": row.kind, "demand": row.subject_id, "person": row.person_id},
    )
    found = repository.get_clock(session, row.id)
    assert found is not None
    return found


# --- the sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did: clocks started and voided, breaches recorded, alerts enqueued."""

    started: int
    voided: int
    breached: int
    alerts: int

    def as_dict(self) -> dict[str, int]:
        return {
            "started": self.started,
            "voided": self.voided,
            "breached": self.breached,
            "alerts": self.alerts,
        }


def sync_demand_clocks(session: Session, now: datetime) -> tuple[int, int]:
    """Start a clock for each open demand that has none; void running ones whose demand is no
    longer open. Returns (started, voided). Idempotent."""
    from carematch.profiling.service import list_demands

    now = _utc(now)
    have = set(repository.running_subjects(session, sla.DEMAND_RESPONSE))
    open_ids: set[str] = set()
    fresh: list[dict[str, object]] = []
    offset = 0
    while True:
        total, page = list_demands(session, SYSTEM, status="open", limit=PAGE, offset=offset)
        ids = [d.id for d in page]
        open_ids.update(ids)
        known = repository.clocked_subjects(session, sla.DEMAND_RESPONSE, ids)
        for d in page:
            if d.id in known:
                continue
            fresh.append(
                _row(
                    sla.DEMAND_RESPONSE,
                    d.id,
                    person_id=d.person_id,
                    service=d.service,
                    started_at=d.first_seen_at,
                    region_code=d.community_code,
                    now=now,
                )
            )
        offset += len(page)
        if not page or offset >= total:
            break
    # A booking made before the clock existed answered it then.
    booked = repository.first_bookings_for_demands(session, [str(r["subject_id"]) for r in fresh])
    for row in fresh:
        first = booked.get(str(row["subject_id"]))
        if first is not None:
            row.update(answered_at=_utc(first[0]), answer=BY_BOOKING, answered_by=first[1])
    repository.insert_clocks(session, fresh)
    gone = sorted(have - open_ids)
    voided = repository.void_clocks(
        session, sla.DEMAND_RESPONSE, gone, at=now, reason="demand_not_open"
    )
    return len(fresh), voided


def responsible_staff(staff: Sequence[tuple[str, str]], region_code: str | None) -> list[str]:
    """The users alerted for a clock in ``region_code``: of those whose jurisdiction holds it,
    the ones at the most local level (the community's doctor before the city's official)."""
    if not region_code:
        return []
    holders = [(uid, region) for uid, region in staff if within(region_code, region)]
    if not holders:
        return []
    depth = max(len(region_prefix(region)) for _, region in holders)
    return sorted(uid for uid, region in holders if len(region_prefix(region)) == depth)


def alert_params(row: SlaClock) -> dict[str, str]:
    """The ``sla_alert`` placeholders for a breached clock (no names: ids and service only)."""
    rule = sla.rule(row.kind)
    info = service_catalogue().get(row.service)
    service_name = info.name if info is not None else row.service
    return {
        "item": f"{rule.label}：{service_name}（{row.subject_id[:8]}）",
        "limit": sla.format_limit(rule.limit),
        "deadline": reminders.when_text(row.deadline_at),
    }


def alert_key(clock_id_: str, user_id: str) -> str:
    """The outbox key of one breach's alert to one user."""
    return f"sla:{clock_id_}:{user_id}"


def sweep(session: Session, *, now: datetime | None = None, limit: int = 10_000) -> SweepSummary:
    """Start and void demand clocks, then record each new breach once and alert the staff.

    Running it again at the same or a later time records no breach twice and enqueues no alert
    twice (the breach time is the deadline; the alert's dedupe key names clock and user).
    """
    now = _utc(now or utcnow())
    started, voided = sync_demand_clocks(session, now)
    staff = repository.alert_staff(session, ALERTED_ROLES)
    breached = alerts = 0
    for row in repository.unrecorded_breaches(session, now, limit):
        deadline = _utc(row.deadline_at)
        if not repository.mark_breached(session, row.id, deadline):
            continue
        breached += 1
        params = alert_params(row)
        for user_id in responsible_staff(staff, row.region_code):
            result = notifications.enqueue(
                session,
                recipient=Recipient.user(user_id),
                channel="inbox",
                template="sla_alert",
                params=params,
                due_at=now,
                dedupe_key=alert_key(row.id, user_id),
            )
            alerts += int(result.created)
        repository.mark_alerted(session, row.id, now)
    return SweepSummary(started, voided, breached, alerts)


# --- reading: the workbench and the indicators ----------------------------------------------


@dataclass(frozen=True)
class ClockCounts:
    """Clocks by state at a moment (for the indicators): those whose deadline fell in a period."""

    running: int
    met: int
    void: int
    breached: int

    @property
    def total(self) -> int:
        return self.running + self.met + self.void + self.breached

    @property
    def breach_rate(self) -> float | None:
        """Breached among the decided ones (met or breached); None when none is decided."""
        decided = self.met + self.breached
        return self.breached / decided if decided else None


def _scope(region: str | None) -> str | None:
    return region_prefix(region) if region else None


def clock_counts(
    session: Session,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    region: str | None = None,
) -> ClockCounts:
    """How many clocks are running, met, void and breached at ``now``, among those whose
    deadline lies in ``[since, until)`` and whose region lies in ``region`` (any level).

    For the indicators: counts follow the rule at ``now`` whether or not a sweep has run.
    """
    counts = repository.clock_state_counts(
        session,
        now=_utc(now or utcnow()),
        region_prefix=_scope(region),
        kind=kind,
        since=_utc(since) if since else None,
        until=_utc(until) if until else None,
    )
    return ClockCounts(
        running=counts.get("running", 0),
        met=counts.get("met", 0),
        void=counts.get("void", 0),
        breached=counts.get("breached", 0),
    )


def count_breaches(
    session: Session,
    *,
    now: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    kind: str | None = None,
    region: str | None = None,
) -> int:
    """SLA breaches whose breach time (the deadline) lies in ``[since, until)``: the indicator
    "超时未响应" of a period, for a region at any level."""
    return clock_counts(
        session, now=now, since=since, until=until, kind=kind, region=region
    ).breached


def open_breaches(
    session: Session, principal: Principal, *, now: datetime | None = None, limit: int = 50
) -> list[SlaClock]:
    """Breached clocks of the principal's jurisdiction still waiting for an answer."""
    return repository.open_breaches(
        session,
        now=_utc(now or utcnow()),
        region_prefix=_scope(principal.jurisdiction),
        limit=limit,
    )


def due_soon(
    session: Session,
    principal: Principal,
    *,
    now: datetime | None = None,
    within_: timedelta = timedelta(hours=2),
    limit: int = 50,
) -> list[SlaClock]:
    """Running clocks of the jurisdiction whose deadline comes within ``within_``."""
    return repository.clocks_due_soon(
        session,
        now=_utc(now or utcnow()),
        within=within_,
        region_prefix=_scope(principal.jurisdiction),
        limit=limit,
    )
