"""Booking reminders (预约提醒) through the notification outbox, in the booking's own transaction.

When a booking is made (by the person, by staff, or from the waitlist) three messages are
enqueued to the booked person, each under a dedupe key built from the booking id and its slot:

- ``booked`` — at once, to the in-app inbox: what was booked, when and where (so the resident
  sees it in "my reminders" straight away, and a guardian booking for a dependant sees it too);
- ``24h`` — the day before, 24 hours before the slot starts, to the inbox;
- ``2h`` — 2 hours before the slot starts, by SMS (the phone in the pocket on the way there).

A reminder whose time has already passed when the booking is made is not sent (a booking made
an hour ahead gets no "tomorrow" reminder). Cancelling a booking cancels its reminders not yet
sent; a reschedule cancels the old slot's and enqueues the new slot's — the slot id in the key
keeps the new ones from being mistaken for the cancelled old ones, since the outbox never
enqueues a key twice. Enqueuing again (a retried request, a replayed Idempotency-Key) is a
no-op. Follow-up reminders (``followup_due``) for a service record's next follow-up date are
enqueued here too: 3 days before the date, at 09:00 city time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy.orm import Session

from carematch.booking.models import Booking, ServiceRecord, Slot
from carematch.core.clock import utcnow
from carematch.notifications import service as notifications
from carematch.notifications.outbox import Recipient
from carematch.providers.catalogue import service_catalogue
from carematch.providers.errors import ProviderNotFound
from carematch.providers.hours import CITY_TZ


@dataclass(frozen=True)
class ReminderPlan:
    """One reminder of a booking: its name in the dedupe key, its channel, how long before the
    slot starts it is sent (None: at once)."""

    name: str
    channel: str
    before: timedelta | None


PLANS = (
    ReminderPlan("booked", "inbox", None),
    ReminderPlan("24h", "inbox", timedelta(hours=24)),
    ReminderPlan("2h", "sms", timedelta(hours=2)),
)
FOLLOWUP_NOTICE = timedelta(days=3)
FOLLOWUP_HOUR = time(9, 0)


def dedupe_key(booking_id: str, slot_id: str, plan: ReminderPlan) -> str:
    """The outbox key of one reminder of a booking in a slot."""
    return f"booking:{booking_id}:{slot_id}:{plan.name}"


def _as_utc(at: datetime) -> datetime:
    # SQLite gives stored times back without an offset; they are UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def when_text(at: datetime) -> str:
    """A slot time as the reminder says it, in city time: ``5月20日 09:00``."""
    local = _as_utc(at).astimezone(CITY_TZ)
    return f"{local.month}月{local.day}日 {local:%H:%M}"


def provider_name(session: Session, provider_id: str) -> str:
    """A provider's name for a message (its id if it is gone)."""
    from carematch.providers.service import get_provider

    try:
        return get_provider(session, provider_id).provider.name
    except ProviderNotFound:
        return provider_id


def _service_name(code: str) -> str:
    info = service_catalogue().get(code)
    return info.name if info is not None else code


def due_times(slot: Slot, now: datetime) -> dict[str, datetime]:
    """When each reminder of a booking in ``slot`` made at ``now`` is sent; the ones whose time
    has passed are left out (a booking made after the slot's start gets only the notice)."""
    start = _as_utc(slot.starts_at)
    found: dict[str, datetime] = {}
    for plan in PLANS:
        if plan.before is None:
            found[plan.name] = now
        elif start - plan.before > now:
            found[plan.name] = start - plan.before
    return found


def enqueue_for(session: Session, booking: Booking, slot: Slot, now: datetime | None = None) -> int:
    """Enqueue a new booking's reminders; how many were new (0 when enqueued before)."""
    now = _as_utc(now or utcnow())
    params = {
        "service": _service_name(slot.service),
        "start": when_text(slot.starts_at),
        "provider": slot.site or provider_name(session, slot.provider_id),
    }
    created = 0
    times = due_times(slot, now)
    for plan in PLANS:
        if plan.name not in times:
            continue
        result = notifications.enqueue(
            session,
            recipient=Recipient.person(booking.person_id),
            channel=plan.channel,
            template="booking_reminder",
            params=params,
            due_at=times[plan.name],
            dedupe_key=dedupe_key(booking.id, slot.id, plan),
        )
        created += int(result.created)
    return created


def cancel_for(session: Session, booking_id: str, slot_id: str) -> int:
    """Cancel a booking's reminders for a slot that are not yet sent; how many were cancelled.

    The ``booked`` notice is usually out already; a reminder cannot be unsent.
    """
    return sum(
        int(notifications.cancel(session, dedupe_key(booking_id, slot_id, plan))) for plan in PLANS
    )


def followup_key(record_id: str) -> str:
    """The outbox key of a service record's follow-up reminder."""
    return f"service-record:{record_id}:followup"


def followup_due_at(day: date, now: datetime) -> datetime:
    """When the reminder of a follow-up on ``day`` is sent: 3 days before at 09:00 city time,
    or at once when that has passed."""
    at = datetime.combine(day - FOLLOWUP_NOTICE, FOLLOWUP_HOUR, tzinfo=CITY_TZ)
    return max(_as_utc(at), _as_utc(now))


def enqueue_followup(
    session: Session, record: ServiceRecord, team: str, now: datetime | None = None
) -> bool:
    """Remind the person of the record's next follow-up date; False when there is none."""
    if record.next_followup_on is None:
        return False
    day = record.next_followup_on
    notifications.enqueue(
        session,
        recipient=Recipient.person(record.person_id),
        channel="inbox",
        template="followup_due",
        params={
            "program": _service_name(record.service),
            "due_date": f"{day.month}月{day.day}日",
            "team": team,
        },
        due_at=followup_due_at(day, now or utcnow()),
        dedupe_key=followup_key(record.id),
    )
    return True
