"""JWT access tokens (HS256) signed with a key from the environment or the data directory.

Every API request reads its token, so the hot path is kept cheap without weakening the check:
the key is looked up once per settings object (no path resolution per request), and a token
whose signature has been verified is remembered, so a repeated token costs one dictionary
look-up plus the expiry check, which is made on every use. Only verified tokens are
remembered (a forged one never enters), the memory is tied to the key that verified it (a new
key empties it), and it is bounded. Whether the user may still act is not decided here:
:func:`carematch.security.authz.current_principal` reads the user row on every request.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from threading import Lock
from typing import Any

import jwt
from pydantic import SecretStr

from carematch.core.clock import utcnow
from carematch.core.config import get_settings
from carematch.core.errors import Unauthorized
from carematch.security.keys import load_or_create_key

ALGORITHM = "HS256"
# Verified tokens remembered per process: a token is ~200 bytes, so ~2 MB at most. A full
# memory is emptied at once (tokens live an hour; the busy ones come back within seconds).
VERIFIED_MAX = 8192


@lru_cache(maxsize=8)
def _secret_for(path: str, env_secret: str | None) -> bytes:
    return load_or_create_key(Path(path), SecretStr(env_secret) if env_secret else None)


_current: tuple[object, bytes] | None = None


def _secret() -> bytes:
    """The signing key of the configured installation (re-read when the settings change)."""
    global _current
    settings = get_settings()
    current = _current
    if current is not None and current[0] is settings:
        return current[1]
    env = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    key = _secret_for(str((settings.secrets_dir / "jwt.key").resolve()), env)
    _current = (settings, key)
    return key


class _Verified:
    """Claims of tokens whose signature one key has verified, with their expiry.

    The key and its claims are one tuple, swapped whole, so a reader never pairs a new key
    with claims another key verified.
    """

    def __init__(self) -> None:
        self._lock = Lock()
        self._state: tuple[bytes | None, dict[str, tuple[float, dict[str, Any]]]] = (None, {})

    def get(self, key: bytes, token: str) -> tuple[float, dict[str, Any]] | None:
        known_key, claims = self._state
        return claims.get(token) if key == known_key else None

    def put(self, key: bytes, token: str, exp: float, claims: dict[str, Any]) -> None:
        with self._lock:
            known_key, known = self._state
            if key != known_key or len(known) >= VERIFIED_MAX:
                known = {}
                self._state = (key, known)
            known[token] = (exp, claims)

    def clear(self) -> None:
        with self._lock:
            self._state = (None, {})


_verified = _Verified()


def issue_token(user_id: str, role: str, region_code: str | None) -> tuple[str, int]:
    """A signed access token and its lifetime in seconds."""
    minutes = get_settings().token_minutes
    now = utcnow()
    claims = {
        "sub": user_id,
        "role": role,
        "region": region_code,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
    }
    return jwt.encode(claims, _secret(), algorithm=ALGORITHM), minutes * 60


def read_token(token: str) -> dict[str, Any]:
    """The claims of a valid token; raises Unauthorized for an expired or forged one.

    A copy is returned, so a caller cannot change what the next request reads.
    """
    key = _secret()
    known = _verified.get(key, token)
    if known is not None:
        exp, claims = known
        # PyJWT's rule (no leeway): expired once the clock reaches ``exp``.
        if exp <= time.time():
            raise Unauthorized("token expired")
        return dict(claims)
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
    _verified.put(key, token, float(claims["exp"]), claims)
    return dict(claims)
