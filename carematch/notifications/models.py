"""Tables of the notifications domain: the outbox, the in-app inbox and the delivery log.

Other domains write to the outbox in their own transaction (the transactional-outbox
pattern), so a reminder exists exactly when the booking that needs it does. The worker moves
each message to a channel; the inbox and the delivery log are the channels' records, each keyed
by the message id so that a channel delivers a message at most once.

Parameters and texts are kept in clear: templates carry no names, phones or ID numbers (the
recipient is an id), so nothing here is an identifying field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from carematch.core.clock import utcnow
from carematch.core.db import Base
from carematch.notifications.outbox import PENDING


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend.

    SQLite keeps no offset and hands back naive values; the worker compares due times and
    lease expiries with aware ``utcnow()``, so values are stored in UTC and read back as UTC.
    The DDL is plain ``DateTime(timezone=True)``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (carematch.core.clock.utcnow)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class OutboxMessage(Base):
    """One message waiting to be sent, being sent, or done (通知发件箱).

    ``dedupe_key`` names the reminder in the enqueuing domain's words (``booking:<id>:24h``), so
    enqueuing the same reminder twice leaves one message. A worker claims a due message by
    setting ``status='sending'`` with a fresh ``lease_token`` and ``lease_expires_at`` in one
    conditional update; it may mark the message only while it still holds that token.
    """

    __tablename__ = "notification_outbox"
    __table_args__ = (Index("ix_notification_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    recipient_kind: Mapped[str] = mapped_column(String(8))
    recipient_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON object of scalars
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the next try may start: the due time first, then the back-off after a failure.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(32), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(100), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class InboxItem(Base):
    """A message delivered to a user's in-app inbox (站内信), read on the portal or workbench.

    The primary key is the outbox message id: inserting the same message twice is impossible,
    which is what makes the inbox channel deliver at most once.
    """

    __tablename__ = "inbox_items"
    __table_args__ = (
        Index("ix_inbox_items_recipient", "recipient_kind", "recipient_id", "delivered_at"),
    )

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(8))
    recipient_id: Mapped[str] = mapped_column(String(32))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text, default="{}")
    locale: Mapped[str] = mapped_column(String(8), default="zh")
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class DeliveryLog(Base):
    """A message handed to an external channel (SMS, WeChat): one row per message id.

    The logging adapters shipped here send nothing; this row is their whole delivery. A real
    adapter writes the row too, with the gateway's receipt, so a message never goes out twice
    from this side.
    """

    __tablename__ = "notification_deliveries"

    message_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient_kind: Mapped[str] = mapped_column(String(8))
    recipient_id: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(String(200), default=None)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
