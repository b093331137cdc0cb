"""API shapes of the notifications domain: the in-app inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

Lang = Literal["zh", "en"]


class InboxItemPublic(BaseModel):
    """One message in the signed-in user's inbox, in the language asked for."""

    id: str
    template: str
    title: str
    body: str
    locale: str
    delivered_at: datetime
    read_at: datetime | None
    read: bool


class InboxPublic(BaseModel):
    """A page of the inbox, newest first; ``unread`` counts the whole inbox."""

    items: list[InboxItemPublic]
    total: int
    unread: int
    limit: int
    offset: int
