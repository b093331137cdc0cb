"""JWT access tokens (HS256) signed with a key from the environment or the data directory."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from pydantic import SecretStr

from carematch.core.clock import utcnow
from carematch.core.config import get_settings
from carematch.core.errors import Unauthorized
from carematch.security.keys import load_or_create_key

ALGORITHM = "HS256"


@lru_cache(maxsize=8)
def _secret_for(path: str, env_secret: str | None) -> bytes:
    return load_or_create_key(Path(path), SecretStr(env_secret) if env_secret else None)


def _secret() -> bytes:
    settings = get_settings()
    env = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
    return _secret_for(str((settings.secrets_dir / "jwt.key").resolve()), env)


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
    """The claims of a valid token; raises Unauthorized for an expired or forged one."""
    try:
        return jwt.decode(token, _secret(), algorithms=[ALGORITHM], options={"require": ["exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
