"""Use cases of the notifications domain: enqueue and cancel for other domains, the inbox.

Other domains call :func:`enqueue` inside their own unit of work (the transactional-outbox
pattern): the booking and its reminder commit together or not at all, and the worker
(``carematch worker``) delivers the reminder when it falls due. Services only flush; the caller
commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from carematch.core.clock import utcnow
from carematch.core.errors import InvalidInput
from carematch.core.ids import new_id
from carematch.notifications import repository
from carematch.notifications.channels import check_channel
from carematch.notifications.errors import InboxItemNotFound, InvalidRecipient
from carematch.notifications.models import InboxItem
from carematch.notifications.outbox import RECIPIENT_KINDS, Recipient
from carematch.notifications.templates import DEFAULT_LOCALE, LOCALES, Rendered, check_params
from carematch.notifications.templates import get_template as _template
from carematch.security.authz import Principal


@dataclass(frozen=True)
class Enqueued:
    """The outbox message for a dedupe key; ``created`` is False when it was there already."""

    id: str
    status: str
    created: bool


def enqueue(
    session: Session,
    *,
    recipient: Recipient,
    channel: str,
    template: str,
    params: Mapping[str, Any],
    due_at: datetime,
    dedupe_key: str,
    locale: str = DEFAULT_LOCALE,
) -> Enqueued:
    """Put a message in the outbox, in the caller's transaction; flushes, never commits.

    Enqueuing under a ``dedupe_key`` already used is a no-op that returns the existing message,
    whatever its content: a job that runs twice, or a retried request, reminds once. Choose keys
    that name the reminder (``booking:<booking id>:reminder-24h``).

    Args:
        recipient: ``Recipient.person(id)`` for a resident, ``Recipient.user(id)`` for staff.
        channel: ``inbox``, ``sms`` or ``wechat``.
        template: a key of templates.yaml (``booking_reminder``, ``followup_due``, ``sla_alert``).
        params: the template's placeholders, strings or numbers; exactly those it names.
        due_at: when to send (timezone-aware); a past time means as soon as a worker runs.
        dedupe_key: names this reminder; at most 200 characters.
        locale: the language to send in, ``zh`` (default) or ``en``.

    Raises:
        UnknownTemplate, InvalidParams, UnknownChannel, InvalidRecipient, InvalidInput.

    Examples:
        >>> enqueue(  # doctest: +SKIP
        ...     session,
        ...     recipient=Recipient.person(booking.person_id),
        ...     channel="inbox",
        ...     template="booking_reminder",
        ...     params={"service": "高血压随访", "start": "5月20日 09:00", "provider": "白云社区"},
        ...     due_at=slot.start - timedelta(hours=24),
        ...     dedupe_key=f"booking:{booking.id}:reminder-24h",
        ... )
    """
    if recipient.kind not in RECIPIENT_KINDS or not recipient.id or len(recipient.id) > 32:
        raise InvalidRecipient("a recipient is Recipient.person(id) or Recipient.user(id)")
    check_channel(channel)
    stored = check_params(template, params)
    if locale not in LOCALES:
        raise InvalidInput(f"unknown locale {locale!r}; locales: {', '.join(LOCALES)}")
    if not dedupe_key or len(dedupe_key) > 200:
        raise InvalidInput("dedupe_key: 1 to 200 characters")
    if due_at.tzinfo is None:
        raise InvalidInput("due_at must be timezone-aware")
    message_id = new_id()
    created = repository.insert_message(
        session,
        {
            "id": message_id,
            "dedupe_key": dedupe_key,
            "recipient_kind": recipient.kind,
            "recipient_id": recipient.id,
            "channel": channel,
            "template": template,
            "params": json.dumps(stored, ensure_ascii=False, sort_keys=True),
            "locale": locale,
            "due_at": due_at,
            "next_attempt_at": due_at,
            "status": "pending",
            "attempts": 0,
            "created_at": utcnow(),
        },
    )
    found = repository.message_by_dedupe_key(session, dedupe_key)
    assert found is not None  # inserted now, or there before
    return Enqueued(found.id, found.status, created)


def cancel(session: Session, dedupe_key: str) -> bool:
    """Cancel a reminder not yet sent (a cancelled booking); True when one was cancelled.

    A message being sent or already sent stays as it is: a reminder cannot be unsent.
    """
    return repository.cancel_message(session, dedupe_key, utcnow())


def status_counts(session: Session) -> dict[str, int]:
    """Outbox messages per status (for operations)."""
    return repository.status_counts(session)


# ---- the inbox ------------------------------------------------------------------------------


def _recipients(principal: Principal) -> list[Recipient]:
    """Whose messages a principal reads: their user's, and their person's if they are one."""
    found = [Recipient.user(principal.user_id)]
    if principal.person_id:
        found.append(Recipient.person(principal.person_id))
    return found


def render_item(item: InboxItem, lang: str | None = None) -> Rendered:
    """An inbox item's text in ``lang``, else in the language it was sent in."""
    return _template(item.template).render(json.loads(item.params), lang or item.locale)


def inbox(
    session: Session,
    principal: Principal,
    *,
    limit: int = 50,
    offset: int = 0,
    unread_only: bool = False,
) -> tuple[list[InboxItem], int, int]:
    """The signed-in user's inbox, newest first: (items, total, unread)."""
    return repository.inbox_page(
        session, _recipients(principal), limit=limit, offset=offset, unread_only=unread_only
    )


def mark_read(session: Session, principal: Principal, message_id: str) -> InboxItem:
    """Mark an item of the signed-in user's inbox read (again is a no-op); flushes.

    Raises:
        InboxItemNotFound: no such item in this user's inbox (someone else's is not found).
    """
    item = repository.inbox_item_for(session, _recipients(principal), message_id)
    if item is None:
        raise InboxItemNotFound(f"no inbox item {message_id}")
    if item.read_at is None:
        item.read_at = utcnow()
        session.flush()
    return item
