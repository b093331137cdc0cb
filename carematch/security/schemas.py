"""API shapes of the security domain."""

from __future__ import annotations

from pydantic import BaseModel


class TokenPublic(BaseModel):
    """An OAuth2 bearer token."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: str
    region_code: str | None


class MePublic(BaseModel):
    """The signed-in user."""

    id: str
    username: str
    role: str
    region_code: str | None
