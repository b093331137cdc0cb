"""A CSRF token for the workbench's POST forms, bound to the signed-in session.

The session cookie is ``SameSite=Strict`` and ``HttpOnly``: a modern browser does not send it
with a request started from another site, so a forged form post arrives signed out and is sent
to the login page. That is the first defence, but not a complete one: "site" means the
registrable domain, so a page on a sibling sub-domain counts as same-site, and some embedded
and older browsers ignore SameSite. The forms that change who is who (link, separate, undo)
therefore also carry a token that only a page rendered for this session can know.

The token is an HMAC of a fixed label keyed by the session cookie itself. A script on another
origin cannot read the cookie (HttpOnly, same-origin policy), so it cannot compute the token;
the token is no use without the cookie and reveals nothing about it; it changes at every
sign-in; and no server-side state is needed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Form, Request

from carematch.core.errors import Forbidden
from carematch.security.authz import TOKEN_COOKIE

FIELD = "csrf_token"
_LABEL = b"carematch-web-form-v1"


class CsrfRejected(Forbidden):
    """A form post without this session's CSRF token (forged, or from an old page)."""

    type = "/problems/csrf-token"
    title = "Form token missing or wrong"


def token_for(request: Request) -> str:
    """The token to put in this session's forms ("" when signed out: every post is refused)."""
    session_token = request.cookies.get(TOKEN_COOKIE)
    if not session_token:
        return ""
    return hmac.new(session_token.encode(), _LABEL, hashlib.sha256).hexdigest()


def check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    """A dependency for form posts: refuse one whose token does not match the session's."""
    expected = token_for(request)
    # compare_digest so that the time taken does not tell an attacker how much was right.
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        raise CsrfRejected("reload the page and try again")
