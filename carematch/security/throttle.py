"""Sign-in throttling: too many wrong passwords for one account, or from one client, wait.

Without it the token endpoint and the sign-in form let anyone guess passwords as fast as the
server answers. Failed attempts are counted in a moving window (the ``limits`` library) per
username and per client address; a successful sign-in is never counted, so staff who type
their password right are never slowed. While either count is at its limit every attempt —
right password or not — is refused with 429 and ``Retry-After``, and the password is not even
checked, so the limit cannot be used to learn it.

The counts live in the storage named by ``CAREMATCH_SIGNIN_STORAGE`` (default ``memory://``:
per server process, so with N workers an attacker gets at most N times the limit; point it at
``redis://…`` for one count across workers and hosts).
"""

from __future__ import annotations

import math
import time
from typing import Any

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from carematch.core.config import get_settings
from carematch.core.errors import CareMatchError


class TooManySignInAttempts(CareMatchError):
    """Too many failed sign-ins for this account or from this client; try again later."""

    status = 429
    type = "/problems/too-many-sign-in-attempts"
    title = "Too many sign-in attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins: try again in {retry_after} s", retry_after=retry_after
        )
        self.retry_after = retry_after


class SignInThrottle:
    """Counts failed sign-ins per username and per client in a moving window."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        per_account: str = "5 per 15 minutes",
        per_client: str = "50 per 15 minutes",
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._per_account = parse(per_account)
        self._per_client = parse(per_client)

    def _keys(self, username: str, client: str | None) -> list[tuple[object, str]]:
        keys: list[tuple[object, str]] = [(self._per_account, f"user:{username.casefold()}")]
        if client:
            keys.append((self._per_client, f"client:{client}"))
        return keys

    def check(self, username: str, client: str | None) -> None:
        """Refuse (429) when this account or this client has used up its failed attempts.

        Raises:
            TooManySignInAttempts: with the seconds until the oldest counted failure expires.
        """
        for limit, key in self._keys(username, client):
            if not self._limiter.test(limit, "signin", key):  # type: ignore[arg-type]
                reset = self._limiter.get_window_stats(limit, "signin", key).reset_time  # type: ignore[arg-type]
                raise TooManySignInAttempts(max(1, math.ceil(reset - time.time())))

    def failed(self, username: str, client: str | None) -> None:
        """Count one failed attempt against the account and the client."""
        for limit, key in self._keys(username, client):
            self._limiter.hit(limit, "signin", key)  # type: ignore[arg-type]


def app_throttle(app: Any) -> SignInThrottle:
    """The app's throttle, made from the settings on first use (one per app instance)."""
    throttle: SignInThrottle | None = getattr(app.state, "signin_throttle", None)
    if throttle is None:
        settings = get_settings()
        throttle = SignInThrottle(
            settings.signin_storage, settings.signin_per_account, settings.signin_per_client
        )
        app.state.signin_throttle = throttle
    return throttle
