"""Use cases of the security domain: create users, sign in, seed roles."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from carematch.core.errors import Conflict, InvalidInput, Unauthorized
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.security import audit
from carematch.security.models import ROLES, Role, User
from carematch.security.passwords import DUMMY_HASH, hash_password, verify_password
from carematch.security.throttle import SignInThrottle
from carematch.security.tokens import issue_token

USERNAME_RE = re.compile(r"^[A-Za-z0-9_.\-@]{2,64}$")
MIN_PASSWORD = 8


def ensure_roles(session: Session) -> None:
    """Insert the built-in roles that are missing."""
    known = set(session.scalars(select(Role.name)))
    for name, (label, label_en) in ROLES.items():
        if name not in known:
            session.add(Role(name=name, label=label, label_en=label_en))
    session.flush()


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str,
    region_code: str | None = None,
    actor: str = "cli",
    person_id: str | None = None,
) -> User:
    """Create a user; staff (every role but admin and resident) must be bound to a region.

    A resident's account may be linked to their person (一人一档) at once, as the community
    health centre does after checking their ID card; only a resident account can be linked.
    """
    if not USERNAME_RE.match(username):
        raise InvalidInput("username: 2-64 letters, digits or _ . - @")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password must be at least {MIN_PASSWORD} characters")
    if role not in {"admin", "resident"} and not region_code:
        raise InvalidInput(f"a {role} must be bound to a region: pass --region CODE")
    if region_code is not None:
        regions_loaded = session.scalar(select(Region.code).limit(1)) is not None
        if regions_loaded and session.get(Region, region_code) is None:
            raise InvalidInput(f"unknown region code {region_code}")
    if person_id is not None:
        _check_person_link(session, role, person_id)
    ensure_roles(session)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(f"user {username!r} already exists")
    user = User(
        id=new_id(),
        username=username,
        password_hash=hash_password(password),
        role=role,
        region_code=None if role == "admin" else region_code,
        person_id=person_id,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="create_user",
        entity="user",
        entity_id=user.id,
        detail={"role": role, "region": region_code, "person": person_id},
    )
    return user


def _check_person_link(session: Session, role: str, person_id: str) -> None:
    """Only a resident account is linked to a person, and only to one person that exists and
    has no other account (two accounts for one person would split their inbox and consents)."""
    from carematch.identity.models import Person

    if role != "resident":
        raise InvalidInput("only a resident account can be linked to a person")
    if session.get(Person, person_id) is None:
        raise InvalidInput(f"unknown person {person_id}")
    if session.scalar(select(User.id).where(User.person_id == person_id)):
        raise Conflict(f"person {person_id} already has an account")


def sign_in(
    session: Session,
    username: str,
    password: str,
    throttle: SignInThrottle | None,
    client: str | None,
) -> tuple[User, str, int]:
    """:func:`authenticate`, refused while this account or client has too many failures.

    Raises:
        TooManySignInAttempts: before the password is checked, while throttled.
        Unauthorized: wrong username or password (counted as a failure).
    """
    if throttle is not None:
        throttle.check(username, client)
    try:
        return authenticate(session, username, password)
    except Unauthorized:
        if throttle is not None:
            throttle.failed(username, client)
        raise


def authenticate(session: Session, username: str, password: str) -> tuple[User, str, int]:
    """Check credentials and issue a token; the same error for a bad user or password."""
    user = session.scalar(select(User).where(User.username == username))
    # Verify against a dummy hash when the user is unknown, so both failures take as long.
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        raise Unauthorized("wrong username or password")
    token, ttl = issue_token(user.id, user.role, user.region_code)
    audit.record(session, actor=user.username, action="login", entity="user", entity_id=user.id)
    return user, token, ttl
