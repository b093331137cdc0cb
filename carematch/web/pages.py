"""The web shell: landing page, sign-in and sign-out, static files and the three faces.

Pages are server-rendered (Jinja2, HTMX for partial updates, ECharts for charts) and work
offline: every script is vendored under ``static/vendor``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRouter
from fastapi.staticfiles import StaticFiles

from carematch.api.deps import SessionDep
from carematch.core.errors import Unauthorized
from carematch.security.authz import TOKEN_COOKIE, Principal, optional_principal, public
from carematch.security.service import sign_in
from carematch.security.throttle import TooManySignInAttempts, app_throttle
from carematch.web.cockpit.relief import router as cockpit_relief
from carematch.web.cockpit.routes import data as cockpit_data
from carematch.web.cockpit.routes import pages as cockpit_pages
from carematch.web.feedback.routes import router as board_router
from carematch.web.guards import install_page_handlers, safe_next
from carematch.web.hearings import router as hearings_page_router
from carematch.web.resident.nearby import router as nearby_router
from carematch.web.resident.policies import router as policies_page_router
from carematch.web.resident.prescreen import router as prescreen_page_router
from carematch.web.resident.questionnaire import router as questionnaire_router
from carematch.web.resident.routes import router as resident_router
from carematch.web.resident.vaccination import router as family_vaccination_router
from carematch.web.templating import home_for, render
from carematch.web.verify.routes import router as verify_router
from carematch.web.workbench.consultations import router as consultations_router
from carematch.web.workbench.observation import router as observation_router
from carematch.web.workbench.routes import router as workbench_router
from carematch.web.workbench.vaccination_review import router as vaccination_review_router
from carematch.web.workbench.visits import router as visits_router

STATIC_DIR = Path(__file__).parent / "static"
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]

router = APIRouter(dependencies=[Depends(public())], include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request, principal: MaybePrincipal) -> HTMLResponse:
    """The landing page: what CareMatch is and its three faces."""
    return render(request, "home/landing.html", principal=principal)


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, principal: MaybePrincipal, next: str | None = None
) -> HTMLResponse:
    """The sign-in form (a signed-in user sees who they are and a link onward)."""
    return render(request, "home/login.html", {"next": safe_next(next)}, principal=principal)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    """Check the credentials, set the session cookie and send the user to their face."""
    back = safe_next(next)
    username = username.strip()
    retry_minutes = 0
    if not username or not password:
        error = "missing"
    else:
        try:
            user, token, ttl = sign_in(
                session,
                username,
                password,
                app_throttle(request.app),
                request.client.host if request.client else None,
            )
        except TooManySignInAttempts as exc:
            error, retry_minutes = "throttled", -(-exc.retry_after // 60)
        except Unauthorized:
            error = "wrong"
        else:
            response = RedirectResponse(back or home_for(user.role), status_code=303)
            response.set_cookie(
                TOKEN_COOKIE,
                token,
                max_age=ttl,
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path="/",
            )
            return response
    # Same message for an unknown user and a wrong password, so the form does not reveal
    # which usernames exist.
    context = {"error": error, "username": username, "next": back, "retry_minutes": retry_minutes}
    status = 429 if error == "throttled" else 400
    return render(request, "home/login.html", context, status_code=status)


@router.api_route("/logout", methods=["GET", "POST"])
def logout() -> RedirectResponse:
    """Forget the session cookie and return to the landing page."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def mount_web(app: FastAPI) -> None:
    """Attach the web routes and static files to the app."""
    install_page_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(router)
    app.include_router(resident_router)
    app.include_router(family_vaccination_router)
    app.include_router(policies_page_router)
    app.include_router(nearby_router)
    app.include_router(prescreen_page_router)
    app.include_router(vaccination_review_router)
    app.include_router(verify_router)
    app.include_router(board_router)
    app.include_router(hearings_page_router)
    app.include_router(consultations_router)
    app.include_router(workbench_router)
    app.include_router(visits_router)
    app.include_router(questionnaire_router)
    app.include_router(observation_router)
    app.include_router(cockpit_pages)
    app.include_router(cockpit_data)
    # Its own guard (officials and civil-affairs staff), not the cockpit pages' officials-only one.
    app.include_router(cockpit_relief)
