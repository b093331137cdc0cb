"""The one authorisation dependency every endpoint declares.

``require("official", "doctor")`` admits those roles (and admin); ``public()`` marks an endpoint
that needs no sign-in (health check, token, login page). A test walks the route table and fails
for any endpoint that declares neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from carematch.api.deps import SessionDep
from carematch.core.errors import Forbidden, Unauthorized
from carematch.security.jurisdiction import within
from carematch.security.models import User
from carematch.security.tokens import read_token

AUTHZ_MARK = "_carematch_authz"
TOKEN_COOKIE = "cm_token"

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


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
    user = session.get(User, claims["sub"])
    if user is None or not user.active:
        raise Unauthorized("user no longer active")
    if user.role != "admin" and user.role != "resident" and not user.region_code:
        raise Forbidden("staff user has no jurisdiction")
    return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


def require(*roles: str) -> Callable[..., Principal]:
    """A dependency admitting the given roles (admin always) and returning the principal."""
    allowed = frozenset(roles) | {"admin"}

    def dependency(
        principal: Annotated[Principal, Depends(current_principal)],
    ) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role {principal.role!r} may not do this")
        return principal

    setattr(dependency, AUTHZ_MARK, tuple(sorted(allowed)))
    return dependency


def public() -> Callable[[], None]:
    """A dependency that declares an endpoint open to everyone (still rate-limited upstream)."""

    def dependency() -> None:
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
    user = session.get(User, claims["sub"])
    if user is None or not user.active:
        return None
    return Principal(user.id, user.username, user.role, user.region_code, user.person_id)


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
