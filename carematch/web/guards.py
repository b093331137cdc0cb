"""Sign-in for pages: a browser is sent to the login form, not shown a JSON 401.

Every page still declares ``require(...)`` as its authorisation (the route-table test reads it);
the guard below runs first, as a router dependency, and turns "not signed in" into a redirect
and "wrong role" into a readable page. JSON endpoints under the web faces (the cockpit's data)
do not use it, so a script calling them gets the API's problem+json 401.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from carematch.api.deps import SessionDep
from carematch.api.problems import http_problem
from carematch.security.authz import Principal, optional_principal
from carematch.web.templating import render


class LoginRequired(Exception):
    """A page was asked for without a valid session; carries where to come back to."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class PageForbidden(Exception):
    """A signed-in user opened a page their role may not see."""

    def __init__(self, principal: Principal) -> None:
        super().__init__(principal.role)
        self.principal = principal


def safe_next(value: str | None) -> str | None:
    """A local path to return to after sign-in, or None.

    Only paths on this site are accepted ("/cockpit"), never "//evil.example" or a full URL,
    so the login form cannot be used as an open redirect.
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


def page_guard(*roles: str) -> Callable[..., None]:
    """A router dependency: redirect to /login when signed out, 403 page for other roles."""
    allowed = frozenset(roles) | {"admin"}

    def guard(request: Request, session: SessionDep) -> None:
        principal = optional_principal(request, session)
        if principal is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise LoginRequired(target)
        if principal.role not in allowed:
            raise PageForbidden(principal)

    return guard


def install_page_handlers(app: FastAPI) -> None:
    """Register the responses for LoginRequired and PageForbidden."""

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        location = "/login?next=" + quote(exc.next_url, safe="/")
        if request.headers.get("HX-Request"):
            # An HTMX fragment request must not swap the login page into a table cell:
            # tell htmx to navigate the whole window instead.
            return Response(status_code=204, headers={"HX-Redirect": location})
        return RedirectResponse(location, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        # A person following a broken link gets a page; scripts and the API get problem+json.
        wants_html = "text/html" in request.headers.get("accept", "")
        if exc.status_code == 404 and wants_html and not request.url.path.startswith("/api/"):
            return render(request, "errors/not_found.html", principal=None, status_code=404)
        return await http_problem(request, exc)

    @app.exception_handler(PageForbidden)
    async def _forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "errors/forbidden.html", principal=exc.principal, status_code=403)
