"""Every query of the notifications domain.

The worker's statements are each one conditional ``UPDATE`` (never a read, then a write from
Python), so two workers cannot both take a message:

- claim: PostgreSQL picks rows with ``SELECT … FOR UPDATE SKIP LOCKED`` inside the update, so
  concurrent workers take disjoint rows without waiting; SQLite runs the whole update under
  its single write lock, so the second worker's update sees the first one's lease.
- mark sent / failed / dead / release: ``WHERE id = … AND lease_token = …`` (a fencing token):
  a worker whose lease ran out and was taken over changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from carematch.notifications.models import DeliveryLog, InboxItem, OutboxMessage
from carematch.notifications.outbox import (
    CANCELLED,
    DEAD,
    FAILED,
    PENDING,
    SENDING,
    SENT,
    WAITING,
    Recipient,
)


def _touched(session: Session, stmt: Any, key: Any) -> int:
    """Rows an INSERT or UPDATE wrote, counted from ``RETURNING key``.

    Not ``rowcount``: psycopg reports -1 for ``INSERT … ON CONFLICT DO NOTHING``.
    """
    return len(session.execute(stmt.returning(key)).all())


def _insert(session: Session, table: Any) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING in the session's dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"notifications do not support the {dialect} dialect")


# ---- outbox: enqueue ----------------------------------------------------------------------


def insert_message(session: Session, values: Mapping[str, Any]) -> bool:
    """Insert a message unless one with its dedupe key exists; True when inserted.

    ``ON CONFLICT DO NOTHING`` rather than look-then-insert: two transactions enqueueing the
    same reminder at once both succeed and leave one row.
    """
    stmt = (
        _insert(session, OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[OutboxMessage.dedupe_key])
    )
    return _touched(session, stmt, OutboxMessage.id) > 0


def message_by_dedupe_key(session: Session, dedupe_key: str) -> OutboxMessage | None:
    """The message enqueued under ``dedupe_key``, if any."""
    return session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key))


def cancel_message(session: Session, dedupe_key: str, now: datetime) -> bool:
    """Cancel a message not yet sent or being sent; True when one was cancelled."""
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.dedupe_key == dedupe_key, OutboxMessage.status.in_(WAITING))
        .values(status=CANCELLED, last_error=f"cancelled at {now.isoformat()}")
    )
    return _touched(session, stmt, OutboxMessage.id) > 0


# ---- outbox: the worker ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedMessage:
    """A message a worker holds under a lease, as plain values."""

    id: str
    recipient: Recipient
    channel: str
    template: str
    params: dict[str, Any]
    locale: str
    attempts: int
    lease_token: str
    lease_expires_at: datetime


def claim_due(
    session: Session,
    *,
    now: datetime,
    limit: int,
    lease_token: str,
    lease_until: datetime,
    worker: str,
) -> list[ClaimedMessage]:
    """Take up to ``limit`` due messages, earliest first, under a new lease; counts the attempt.

    Due: pending or failed with ``next_attempt_at <= now``, or sending with an expired lease
    (its worker died or stalled). The caller commits at once, so the lease is visible.
    """
    claimable = or_(
        and_(OutboxMessage.status.in_(WAITING), OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == SENDING, OutboxMessage.lease_expires_at <= now),
    )
    pick = (
        select(OutboxMessage.id)
        .where(claimable)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    # A materialised CTE, not ``IN (subquery)``: PostgreSQL may run a LIMIT subquery more than
    # once inside an UPDATE, and each run locks and returns further rows (a batch of 2 claimed
    # 4 in the tests). The CTE is evaluated exactly once.
    picked = pick.cte("picked").prefix_with("MATERIALIZED")
    stmt = (
        update(OutboxMessage)
        # The claim condition again on the outer update: a row changed between the pick and
        # the update (PostgreSQL re-reads it) is not taken.
        .where(OutboxMessage.id.in_(select(picked.c.id)), claimable)
        .values(
            status=SENDING,
            lease_token=lease_token,
            lease_expires_at=lease_until,
            claimed_by=worker,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.recipient_kind,
            OutboxMessage.recipient_id,
            OutboxMessage.channel,
            OutboxMessage.template,
            OutboxMessage.params,
            OutboxMessage.locale,
            OutboxMessage.attempts,
            OutboxMessage.next_attempt_at,
        )
    )
    rows = list(session.execute(stmt).all())
    # RETURNING gives no order; the worker sends earliest first.
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return [
        ClaimedMessage(
            id=r.id,
            recipient=Recipient(r.recipient_kind, r.recipient_id),
            channel=r.channel,
            template=r.template,
            params=json.loads(r.params),
            locale=r.locale,
            attempts=r.attempts,
            lease_token=lease_token,
            lease_expires_at=lease_until,
        )
        for r in rows
    ]


def _held(message_id: str, lease_token: str) -> Any:
    return and_(
        OutboxMessage.id == message_id,
        OutboxMessage.status == SENDING,
        OutboxMessage.lease_token == lease_token,
    )


def mark_sent(session: Session, message_id: str, lease_token: str, now: datetime) -> bool:
    """Record a delivery; False when the lease was lost (another worker took the message)."""
    stmt = (
        update(OutboxMessage)
        .where(_held(message_id, lease_token))
        .values(status=SENT, sent_at=now, lease_token=None, lease_expires_at=None)
    )
    return _touched(session, stmt, OutboxMessage.id) > 0


def mark_failed(
    session: Session, message_id: str, lease_token: str, error: str, retry_at: datetime
) -> bool:
    """Record a failed try and when to try again; False when the lease was lost."""
    stmt = (
        update(OutboxMessage)
        .where(_held(message_id, lease_token))
        .values(
            status=FAILED,
            last_error=error,
            next_attempt_at=retry_at,
            lease_token=None,
            lease_expires_at=None,
        )
    )
    return _touched(session, stmt, OutboxMessage.id) > 0


def mark_dead(session: Session, message_id: str, lease_token: str, error: str) -> bool:
    """Give up on a message; False when the lease was lost."""
    stmt = (
        update(OutboxMessage)
        .where(_held(message_id, lease_token))
        .values(status=DEAD, last_error=error, lease_token=None, lease_expires_at=None)
    )
    return _touched(session, stmt, OutboxMessage.id) > 0


def release(session: Session, message_ids: Sequence[str], lease_token: str) -> int:
    """Hand back claimed messages that were not tried (shutdown): the claim's attempt is undone."""
    if not message_ids:
        return 0
    stmt = (
        update(OutboxMessage)
        .where(
            OutboxMessage.id.in_(list(message_ids)),
            OutboxMessage.status == SENDING,
            OutboxMessage.lease_token == lease_token,
        )
        .values(
            status=case((OutboxMessage.attempts > 1, FAILED), else_=PENDING),
            attempts=OutboxMessage.attempts - 1,
            lease_token=None,
            lease_expires_at=None,
        )
    )
    return _touched(session, stmt, OutboxMessage.id)


def status_counts(session: Session) -> dict[str, int]:
    """Messages per status."""
    rows = session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    return {status: count for status, count in rows}


# ---- channels' records ---------------------------------------------------------------------


def insert_inbox_item(session: Session, values: Mapping[str, Any]) -> bool:
    """Put a message in an inbox unless it is there already; True when inserted."""
    stmt = (
        _insert(session, InboxItem)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[InboxItem.message_id])
    )
    return _touched(session, stmt, InboxItem.message_id) > 0


def insert_delivery(session: Session, values: Mapping[str, Any]) -> bool:
    """Log a delivery to an external channel unless it is logged already; True when inserted."""
    stmt = (
        _insert(session, DeliveryLog)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[DeliveryLog.message_id])
    )
    return _touched(session, stmt, DeliveryLog.message_id) > 0


def inbox_has(session: Session, message_id: str) -> bool:
    """True when the message is in an inbox."""
    return session.get(InboxItem, message_id) is not None


def delivery_logged(session: Session, message_id: str) -> bool:
    """True when the message is in the delivery log."""
    return session.get(DeliveryLog, message_id) is not None


# ---- the inbox, as its reader sees it -------------------------------------------------------


def _addressed_to(recipients: Sequence[Recipient]) -> Any:
    return or_(
        *(
            and_(InboxItem.recipient_kind == r.kind, InboxItem.recipient_id == r.id)
            for r in recipients
        )
    )


def inbox_page(
    session: Session,
    recipients: Sequence[Recipient],
    *,
    limit: int,
    offset: int,
    unread_only: bool,
) -> tuple[list[InboxItem], int, int]:
    """A page of the inbox of whoever ``recipients`` name, newest first; (items, total, unread)."""
    where = _addressed_to(recipients)
    unread = InboxItem.read_at.is_(None)
    listed = and_(where, unread) if unread_only else where
    items = list(
        session.scalars(
            select(InboxItem)
            .where(listed)
            .order_by(InboxItem.delivered_at.desc(), InboxItem.message_id)
            .limit(limit)
            .offset(offset)
        )
    )
    total = session.scalar(select(func.count()).select_from(InboxItem).where(listed)) or 0
    unread_count = (
        session.scalar(select(func.count()).select_from(InboxItem).where(and_(where, unread))) or 0
    )
    return items, total, unread_count


def inbox_item_for(
    session: Session, recipients: Sequence[Recipient], message_id: str
) -> InboxItem | None:
    """The inbox item ``message_id`` if it is addressed to one of ``recipients``."""
    return session.scalar(
        select(InboxItem).where(InboxItem.message_id == message_id, _addressed_to(recipients))
    )
