"""The home-visit form (入户走访) of the workbench: a grid worker or family doctor at a
resident's door records what they saw, the needs they noticed and, if they assessed it, the
Barthel ADL score — on a phone, on a slow connection.

The page works without JavaScript: a plain POST form with the session's CSRF token, answered
by a redirect (a reload never repeats it). The Barthel items sit in a ``<details>`` that opens
without script. The form carries an idempotency key made when it was rendered, so a post the
phone sends again (the connection dropped before the answer came) records the visit once.
Styles are inline and few: the page adds about 2 KB to the shared stylesheet.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.assessments import service
from carematch.assessments.barthel import barthel
from carematch.assessments.endpoints import VISITORS
from carematch.assessments.errors import AssessmentPersonNotFound
from carematch.assessments.needs import need_catalogue
from carematch.assessments.schemas import city_time
from carematch.core.errors import CareMatchError
from carematch.identity.schemas import PersonSummary
from carematch.identity.service import visible_person
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

Visitor = Annotated[Principal, Depends(require(*VISITORS))]
router = APIRouter(
    prefix="/workbench/visits",
    dependencies=[Depends(page_guard(*VISITORS))],
    include_in_schema=False,
)

KIND_LABELS = {
    "grid_worker": N_("Grid worker visit"),
    "family_doctor": N_("Family doctor visit"),
}
LEVEL_LABELS = {
    0: N_("Independent"),
    1: N_("Mild dependence"),
    2: N_("Moderate dependence"),
    3: N_("Severe dependence"),
    4: N_("Total dependence"),
}
Short = Annotated[str, Form(max_length=64)]


def _person(session: Session, principal: Principal, person_id: str) -> PersonSummary:
    try:
        return PersonSummary.of(service.acting_for(session, principal, person_id))
    except AssessmentPersonNotFound:
        raise review.not_found() from None


def _form_context(request: Request, principal: Principal) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    english = locale == "en"
    return {
        "csrf_token": token_for(request),
        "needs": [(n.code, n.label(locale)) for n in need_catalogue().values()],
        "items": [
            {
                "code": item.code,
                "label": item.en if english else item.zh,
                "options": [(o.score, o.en if english else o.zh) for o in item.options],
            }
            for item in barthel().items
        ],
        "kinds": [(k, i18n.gettext(locale, label)) for k, label in KIND_LABELS.items()],
        "choose_kind": principal.role not in service.KIND_OF_ROLE,
    }


def _page(
    request: Request,
    principal: Principal,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    values = {
        **_form_context(request, principal),
        "error": None,
        "form": {"needs": [], "scores": {}},
        "key": secrets.token_urlsafe(16),
        **context,
    }
    response = render(
        request, "workbench/visit_new.html", values, principal=principal, status_code=status_code
    )
    response.headers.update(review.NO_STORE)
    return response


@router.get("/new", response_class=HTMLResponse)
def new_visit(
    request: Request,
    session: SessionDep,
    principal: Visitor,
    person_id: Annotated[str, Query(max_length=64)] = "",
) -> HTMLResponse:
    """The visit form for a person (named in the link from their page or a task list)."""
    person = _person(session, principal, person_id) if person_id else None
    return _page(request, principal, {"person": person, "person_id": person_id})


def _scores(form: Any) -> dict[str, Any] | None:
    """The Barthel answers in the form: None when no item was answered (no assessment made);
    a malformed value is passed on as given, so the scale names it."""
    answers: dict[str, Any] = {}
    for item in barthel().items:
        raw = str(form.get(f"adl_{item.code}") or "").strip()
        if raw:
            answers[item.code] = int(raw) if raw.isdigit() and len(raw) < 4 else raw
    return answers or None


@router.post("", dependencies=[Depends(check_csrf)])
async def save_visit(
    request: Request,
    session: SessionDep,
    principal: Visitor,
    person_id: Short = "",
    key: Annotated[str, Form(max_length=48)] = "",
    kind: Short = "",
    lives_alone: Short = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """Record the visit; on success go to what was recorded, else back to the form."""
    form = await request.form()
    needs = [str(v) for v in form.getlist("needs")][:50]
    answers = _scores(form)
    person_id = person_id.strip()
    person = _person(session, principal, person_id) if person_id else None
    alone = {"yes": True, "no": False}.get(lives_alone)
    try:
        result = service.record_home_visit(
            session,
            principal,
            person_id=person_id,
            kind=kind or None,
            lives_alone=alone,
            needs=needs,
            note=note,
            barthel_answers=answers,
            idempotency_key=f"web:{key}" if key else None,
        )
    except CareMatchError as exc:
        session.rollback()
        locale = i18n.negotiate(request)
        reason = "; ".join(exc.extra.get("problems", [])) or exc.detail
        context = {
            "person": person,
            "person_id": person_id,
            "key": key or secrets.token_urlsafe(16),
            "error": i18n.gettext(locale, N_("The visit was not saved:")) + " " + reason,
            "form": {
                "needs": needs,
                "scores": {k: str(v) for k, v in (answers or {}).items()},
                "kind": kind,
                "lives_alone": lives_alone,
                "note": note,
            },
        }
        status = 404 if exc.status == 404 else 422 if exc.status == 422 else 400
        return _page(request, principal, context, status_code=status)
    return review.committed_redirect(session, f"/workbench/visits/{result.visit.id}")


@router.get("/{visit_id}", response_class=HTMLResponse)
def show_visit(
    request: Request, session: SessionDep, principal: Visitor, visit_id: str
) -> HTMLResponse:
    """What a visit recorded (the page the form leads to); the read is audited."""
    from carematch.assessments import repository

    visit = repository.get_visit(session, visit_id) if service.ID_PATTERN.match(visit_id) else None
    if visit is None:
        raise review.not_found()
    try:
        found = visible_person(session, principal, visit.person_id)
    except CareMatchError:
        raise review.not_found() from None
    assessment = repository.assessment_of_visit(session, visit.id)
    audit.record(
        session,
        actor=principal.username,
        action="read_home_visit",
        entity="person",
        entity_id=visit.person_id,
        detail={"visit": visit.id, "via": "web"},
    )
    locale = i18n.negotiate(request)
    catalogue = need_catalogue()
    context = {
        "visit": visit,
        "when": f"{city_time(visit.visited_at):%Y-%m-%d %H:%M}",
        "kind": i18n.gettext(locale, KIND_LABELS[visit.kind]),
        "person": PersonSummary.of(found),
        "needs": [catalogue[c].label(locale) for c in visit.needs.split() if c in catalogue],
        "assessment": assessment,
        "level_label": (
            i18n.gettext(locale, LEVEL_LABELS[assessment.disability_level]) if assessment else None
        ),
    }
    response = render(request, "workbench/visit_done.html", context, principal=principal)
    response.headers.update(review.NO_STORE)
    return response
