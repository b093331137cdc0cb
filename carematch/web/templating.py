"""Rendering pages: one Jinja environment per language, shared page context, security headers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any
from urllib.parse import urlencode

from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from carematch.security.authz import Principal
from carematch.security.models import ROLES
from carematch.web import i18n

TEXT_COOKIE = "cm_text"
TEXT_PARAM = "text"
TEXT_SIZES = ("normal", "large")
PREF_MAX_AGE = 365 * 24 * 3600

# Pages load scripts and data only from this server; inline styles stay allowed because
# ECharts positions its tooltip with style attributes.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

# Which face each role lands on after sign-in, and which faces a role may open.
FACES: dict[str, tuple[str, ...]] = {
    "cockpit": ("official", "admin"),
    "workbench": ("official", "doctor", "vaccinator", "grid_worker", "civil_affairs", "admin"),
    "portal": ("resident", "admin"),
}


def home_for(role: str) -> str:
    """The page a role lands on after sign-in: officials the cockpit, staff the workbench."""
    if role in ("official", "admin"):
        return "/cockpit"
    if role == "resident":
        return "/portal"
    return "/workbench"


@cache
def environment(locale: str) -> Environment:
    """The template environment for one language (built once; safe to share across threads)."""
    env = Environment(
        loader=PackageLoader("carematch.web", "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # Collapse whitespace inside {% trans %} blocks; babel.cfg extracts with the same policy.
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.filters["num"] = lambda value: format_decimal(value or 0, locale=locale)
    env.filters["pct"] = lambda value: format_percent(value or 0, "#,##0.0%", locale=locale)
    return env


def _url_with(request: Request, **params: str) -> str:
    """This page's path and query with some parameters replaced (for preference links)."""
    query = dict(request.query_params)
    query.update(params)
    return request.url.path + "?" + urlencode(query)


def text_size(request: Request) -> str:
    """Normal or large text: ``?text=`` first, then the cookie (elderly-friendly mode)."""
    asked = request.query_params.get(TEXT_PARAM)
    if asked in TEXT_SIZES:
        return asked
    remembered = request.cookies.get(TEXT_COOKIE)
    return remembered if remembered in TEXT_SIZES else "normal"


def page_context(request: Request, principal: Principal | None) -> dict[str, Any]:
    """What every page template may use: language, preferences, the signed-in user, nav."""
    locale = i18n.negotiate(request)
    other = "en" if locale != "en" else "zh"
    size = text_size(request)
    role_label = None
    if principal is not None:
        label, label_en = ROLES.get(principal.role, (principal.role, principal.role))
        role_label = label_en if locale == "en" else label
    faces = [face for face, roles in FACES.items() if principal and principal.role in roles]
    return {
        "request": request,
        "locale": locale,
        "html_lang": i18n.HTML_LANG[locale],
        "lang_switch_url": _url_with(request, lang=other),
        "lang_switch_code": other,
        "text_size": size,
        "text_toggle_url": _url_with(request, text="normal" if size == "large" else "large"),
        "principal": principal,
        "role_label": role_label,
        "faces": faces,
        "current_path": request.url.path,
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page in the request's language; remember a ``?lang=`` or ``?text=`` choice."""
    values = page_context(request, principal)
    values.update(context or {})
    html = environment(values["locale"]).get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)
    secure = request.url.scheme == "https"
    asked = i18n.requested_locale(request)
    if asked is not None:
        response.set_cookie(
            i18n.LANG_COOKIE,
            i18n.SHORT_CODE[asked],
            max_age=PREF_MAX_AGE,
            samesite="lax",
            secure=secure,
        )
    if request.query_params.get(TEXT_PARAM) in TEXT_SIZES:
        response.set_cookie(
            TEXT_COOKIE,
            values["text_size"],
            max_age=PREF_MAX_AGE,
            samesite="lax",
            secure=secure,
        )
    return response
