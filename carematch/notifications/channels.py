"""Channel adapters: the in-app inbox, SMS and WeChat, each idempotent on the message id.

Why this gives exactly-once delivery to the recipient
-----------------------------------------------------
Calling a channel and committing "sent" in the outbox cannot be one atomic step: a worker can
die after the channel delivered and before the outbox says so. The outbox therefore promises
*at least once* — a message whose lease expires is claimed and handed to a channel again —
and each channel turns that into *at most once* by keying its delivery on the message id:

- the inbox inserts its row with the message id as primary key (``ON CONFLICT DO NOTHING``),
  so a second hand-over finds the row and adds nothing;
- the SMS and WeChat adapters record the message id in ``notification_deliveries`` (primary
  key) in the same transaction as the send; a second hand-over finds the id and skips.

At least once, and at most once per message id, is exactly once. Each adapter commits its own
record before it returns, so a crash at any point leaves either no delivery (the next worker
sends) or one delivery (the next worker skips it and marks the message sent).

The SMS and WeChat adapters here are **logging implementations**: they send nothing; their
delivery is the log row (and a log line), so the argument above holds for them exactly. A real
gateway adapter implements the same protocol, but its delivery happens outside this database:
it must pass the message id to the gateway as an idempotency key where the gateway honours
one. Where it does not, a crash between the gateway's acceptance and the adapter's record is
the one window in which a real SMS could go out twice; no design on this side can close it
without the gateway's help, and the window is one call wide, not one batch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import Enum
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from carematch.core.clock import utcnow
from carematch.core.logging import get_logger
from carematch.notifications import repository
from carematch.notifications.errors import UnknownChannel
from carematch.notifications.outbox import Delivery

INBOX = "inbox"
SMS = "sms"
WECHAT = "wechat"
CHANNELS = (INBOX, SMS, WECHAT)

log = get_logger("notifications")


class Outcome(Enum):
    """What a channel did with a delivery."""

    DELIVERED = "delivered"
    # The message id had been delivered before (a retry after a crash): nothing sent now.
    DUPLICATE = "duplicate"


class Channel(Protocol):
    """An adapter to one channel. Implementations must be idempotent on ``message_id``."""

    name: str

    def send(self, delivery: Delivery) -> Outcome:
        """Deliver once; a repeated ``message_id`` returns DUPLICATE and sends nothing.

        Raises:
            ChannelError: try again later (the worker backs off).
            PermanentChannelError: never deliverable (the worker gives up at once).
        """
        ...

    def was_delivered(self, message_id: str) -> bool:
        """True when this channel has delivered ``message_id``."""
        ...


class InboxChannel:
    """The in-app inbox (站内信): a row residents and staff read on the portal or workbench."""

    name = INBOX

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def send(self, delivery: Delivery) -> Outcome:
        with self._sessions.begin() as session:
            inserted = repository.insert_inbox_item(
                session,
                {
                    "message_id": delivery.message_id,
                    "recipient_kind": delivery.recipient.kind,
                    "recipient_id": delivery.recipient.id,
                    "template": delivery.template,
                    "params": json.dumps(delivery.params, ensure_ascii=False),
                    "locale": delivery.locale,
                    "delivered_at": utcnow(),
                },
            )
        return Outcome.DELIVERED if inserted else Outcome.DUPLICATE

    def was_delivered(self, message_id: str) -> bool:
        with self._sessions() as session:
            return repository.inbox_has(session, message_id)


class LoggingChannel:
    """An SMS or WeChat adapter that sends nothing: it logs the message and records it.

    Stands in for a gateway until one is contracted; the delivery log row is its delivery.
    The log line names the recipient by id only (the phone or OpenID would be looked up by a
    real adapter, never logged).
    """

    def __init__(self, name: str, sessions: sessionmaker[Session]) -> None:
        self.name = name
        self._sessions = sessions

    def send(self, delivery: Delivery) -> Outcome:
        with self._sessions.begin() as session:
            inserted = repository.insert_delivery(
                session,
                {
                    "message_id": delivery.message_id,
                    "channel": self.name,
                    "recipient_kind": delivery.recipient.kind,
                    "recipient_id": delivery.recipient.id,
                    "body": delivery.body,
                    "receipt": f"logged:{delivery.message_id}",
                    "delivered_at": utcnow(),
                },
            )
        if inserted:
            log.info(
                "notification.logged",
                channel=self.name,
                message_id=delivery.message_id,
                recipient=f"{delivery.recipient.kind}:{delivery.recipient.id}",
                template=delivery.template,
                text=delivery.body,
            )
        return Outcome.DELIVERED if inserted else Outcome.DUPLICATE

    def was_delivered(self, message_id: str) -> bool:
        with self._sessions() as session:
            return repository.delivery_logged(session, message_id)


def default_channels(sessions: sessionmaker[Session]) -> dict[str, Channel]:
    """The adapters this installation sends through: the inbox, and logging SMS and WeChat."""
    return {
        INBOX: InboxChannel(sessions),
        SMS: LoggingChannel(SMS, sessions),
        WECHAT: LoggingChannel(WECHAT, sessions),
    }


def check_channel(name: str, known: Mapping[str, object] | None = None) -> str:
    """``name`` if it is a channel the platform sends through.

    Raises:
        UnknownChannel: it is not.
    """
    names = tuple(known) if known is not None else CHANNELS
    if name not in names:
        raise UnknownChannel(f"unknown channel {name!r}; channels: {', '.join(names)}")
    return name
