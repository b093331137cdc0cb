"""Sign-in: OAuth2 password flow at POST /api/v1/auth/token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from carematch.api.deps import SessionDep
from carematch.security import service
from carematch.security.authz import Principal, public, require
from carematch.security.schemas import MePublic, TokenPublic
from carematch.security.throttle import app_throttle

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=TokenPublic, dependencies=[Depends(public())])
def token(
    request: Request,
    session: SessionDep,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Exchange a username and password for a bearer token (429 after repeated failures)."""
    user, access, ttl = service.sign_in(
        session,
        form.username,
        form.password,
        app_throttle(request.app),
        request.client.host if request.client else None,
    )
    return TokenPublic(
        access_token=access, expires_in=ttl, role=user.role, region_code=user.region_code
    )


@router.get("/me", response_model=MePublic)
def me(principal: Annotated[Principal, Depends(require(*service.ROLES))]) -> MePublic:
    """Who the token belongs to."""
    return MePublic(
        id=principal.user_id,
        username=principal.username,
        role=principal.role,
        region_code=principal.region_code,
    )
