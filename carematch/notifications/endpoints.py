"""The in-app inbox under /api/v1; every route declares its authorisation (security.authz).

Every signed-in user has an inbox: residents read the reminders addressed to their person,
staff the alerts addressed to their user. An item of someone else's inbox is "not found".
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from carematch.api.deps import Limit, Offset, SessionDep
from carematch.notifications import service
from carematch.notifications.models import InboxItem
from carematch.notifications.schemas import InboxItemPublic, InboxPublic, Lang
from carematch.security.authz import Principal, require
from carematch.security.models import ROLES

router = APIRouter(tags=["notifications"])

# Everyone who signs in reads their own inbox, and only that.
Reader = Annotated[Principal, Depends(require(*ROLES))]
LangQuery = Annotated[
    Lang | None, Query(description="zh or en; the language it was sent in when left out")
]


def _public(item: InboxItem, lang: str | None) -> InboxItemPublic:
    text = service.render_item(item, lang)
    return InboxItemPublic(
        id=item.message_id,
        template=item.template,
        title=text.title,
        body=text.body,
        locale=lang or item.locale,
        delivered_at=item.delivered_at,
        read_at=item.read_at,
        read=item.read_at is not None,
    )


@router.get("/inbox", response_model=InboxPublic)
def list_inbox(
    session: SessionDep,
    principal: Reader,
    limit: Limit = 50,
    offset: Offset = 0,
    unread_only: Annotated[bool, Query(description="only messages not yet read")] = False,
    lang: LangQuery = None,
) -> InboxPublic:
    """The signed-in user's messages (我的消息), newest first."""
    items, total, unread = service.inbox(
        session, principal, limit=limit, offset=offset, unread_only=unread_only
    )
    return InboxPublic(
        items=[_public(i, lang) for i in items],
        total=total,
        unread=unread,
        limit=limit,
        offset=offset,
    )


@router.post("/inbox/{message_id}/read", response_model=InboxItemPublic)
def mark_read(
    session: SessionDep, principal: Reader, message_id: str, lang: LangQuery = None
) -> InboxItemPublic:
    """Mark one of the signed-in user's messages read; marking it again changes nothing."""
    return _public(service.mark_read(session, principal, message_id), lang)
