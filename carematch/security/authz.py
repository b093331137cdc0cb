"""The one authorisation dependency every endpoint declares.

``require("official", "doctor")`` admits those roles (and admin); ``public()`` marks an endpoint
that needs no sign-in (health check, token, login page). A test walks the route table and fails
for any endpoint that declares neither.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core.errors import Forbidden, Unauthorized
from carematch.security.jurisdiction import within
from carematch.security.models import User
from carematch.security.tokens import read_token

AUTHZ_MARK = "_carematch_authz"
TOKEN_COOKIE = "cm_token"

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)

# The columns a principal is made of, read on every request (so a deactivated user or a changed
# role or region counts at the next request). A Core select of the table built once: it skips
# the ORM's entity loading and identity map, and its compiled form is cached by SQLAlchemy.
_USERS: Table = User.__table__  # type: ignore[assignment]
_PRINCIPAL_ROW = select(
    _USERS.c.id,
    _USERS.c.username,
    _USERS.c.role,
    _USERS.c.region_code,
    _USERS.c.person_id,
    _USERS.c.active,
).where(_USERS.c.id == bindparam("user_id"))


@dataclass(frozen=True)
class Principal:
    """Who is calling: the signed-in user's id, role and jurisdiction."""

    user_id: str
    username: str
    role: str
    region_code: str | None
    person_id: str | None = None

    @property
    def unrestricted(self) -> bool:
        return self.role == "admin"

    @property
    def jurisdiction(self) -> str | None:
        """Region prefix this principal is bound to; None for admin (sees everything)."""
        return None if self.unrestricted else self.region_code

    def can_see(self, region_code: str | None) -> bool:
        """True when a record in ``region_code`` lies inside this principal's jurisdiction."""
        return within(region_code, self.jurisdiction)


def _token_from(request: Request, bearer: str | None) -> str | None:
    return bearer or request.cookies.get(TOKEN_COOKIE)


def _active_user(session: Session, user_id: Any) -> Principal | None:
    """The principal of an active user, or None when the user is gone or deactivated."""
    row = session.execute(_PRINCIPAL_ROW, {"user_id": str(user_id)}).first()
    if row is None or not row.active:
        return None
    return Principal(row.id, row.username, row.role, row.region_code, row.person_id)


def current_principal(
    request: Request,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(_bearer)] = None,
) -> Principal:
    """The signed-in user, from a Bearer token or the web session cookie."""
    token = _token_from(request, bearer)
    if not token:
        raise Unauthorized("sign in first")
    claims = read_token(token)
    principal = _active_user(session, claims["sub"])
    if principal is None:
        raise Unauthorized("user no longer active")
    if principal.role not in ("admin", "resident") and not principal.region_code:
        raise Forbidden("staff user has no jurisdiction")
    return principal


def require(*roles: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting the given roles (admin always) and returning the principal.

    ``async`` because it only compares strings: FastAPI runs a plain ``def`` dependency in a
    worker thread, and that hop (a thread hand-off and a wake-up of the event loop) cost more
    than the check on every request. The principal itself is read in a thread (it queries).
    """
    allowed = frozenset(roles) | {"admin"}

    async def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role!r} may not do this")
        return principal

    setattr(dependency, AUTHZ_MARK, tuple(sorted(allowed)))
    return dependency


def public() -> Callable[[], Awaitable[None]]:
    """A dependency that declares an endpoint open to everyone (still rate-limited upstream).

    ``async`` for the reason given in :func:`require`: it does nothing a thread would help.
    """

    async def dependency() -> None:
        return None

    setattr(dependency, AUTHZ_MARK, ("public",))
    return dependency


def optional_principal(request: Request, session: SessionDep) -> Principal | None:
    """The signed-in user if any (web pages that show a login link otherwise)."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        claims = read_token(token)
    except Unauthorized:
        return None
    return _active_user(session, claims["sub"])


def declared_authz(dependant: Any) -> tuple[str, ...] | None:
    """The roles an endpoint's dependency tree declares, or None if it declares none."""
    for sub in dependant.dependencies:
        mark = getattr(sub.call, AUTHZ_MARK, None)
        if mark is not None:
            return mark
        found = declared_authz(sub)
        if found is not None:
            return found
    return None
