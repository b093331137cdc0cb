"""Chronic-monitoring tasks on the workbench (/workbench/monitoring): the doctor's follow-ups.

Each alert episode (e.g. blood pressure high three days running) gave the person's responsible
doctor a task with a deadline; the page lists the open tasks of the doctor's jurisdiction
(their own first, earliest deadline first) and closes one with a note of what was done. A
plain form post with the CSRF token: works without script and on a phone. It shows person ids
and rules, no names; closing a task is audited by the service.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from carematch.api.deps import SessionDep
from carematch.core.errors import CareMatchError, NotFound
from carematch.monitoring import service
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench import review
from carematch.web.workbench.csrf import check_csrf, token_for

MONITORING_WORKERS = ("doctor", "official")
Worker = Annotated[Principal, Depends(require(*MONITORING_WORKERS))]
PAGE_SIZE = 50
RULE_LABELS = {"bp_high_3d": N_("Blood pressure high three days running")}

router = APIRouter(prefix="/monitoring", include_in_schema=False)


def _context(session: Any, principal: Principal, show: str, locale: str) -> dict[str, Any]:
    status = "done" if show == "done" else "open"
    total, views = service.list_tasks(session, principal, status=status, limit=PAGE_SIZE)
    views.sort(key=lambda v: (v.task.assignee_user_id != principal.user_id, v.task.due_on))
    rows = [
        {
            "id": v.task.id,
            "person_id": v.task.person_id,
            "rule": i18n.gettext(locale, RULE_LABELS[v.task.rule])
            if v.task.rule in RULE_LABELS
            else v.task.rule,
            "due_on": v.task.due_on.isoformat(),
            "overdue": v.overdue,
            "mine": v.task.assignee_user_id == principal.user_id,
            "note": v.task.note,
            "closed_by": v.task.closed_by,
        }
        for v in views
    ]
    return {"rows": rows, "total": total, "show": status}


def _page(
    request: Request, context: dict[str, Any], principal: Principal, code: int = 200
) -> HTMLResponse:
    values = {"csrf_token": token_for(request), "error": None, "done": "", **context}
    response = render(
        request, "workbench/monitoring.html", values, principal=principal, status_code=code
    )
    response.headers.update(review.NO_STORE)
    return response


@router.get(
    "", response_class=HTMLResponse, dependencies=[Depends(page_guard(*MONITORING_WORKERS))]
)
def monitoring_page(
    request: Request,
    session: SessionDep,
    principal: Worker,
    show: Annotated[str, Query(max_length=8)] = "open",
    done: Annotated[str, Query(max_length=32)] = "",
) -> HTMLResponse:
    """The open (or done) follow-up tasks of the caller's jurisdiction."""
    locale = i18n.negotiate(request)
    context = _context(session, principal, show, locale)
    context["done"] = done if done == "closed" else ""
    return _page(request, context, principal)


@router.post(
    "/{task_id}/close",
    dependencies=[Depends(page_guard(*MONITORING_WORKERS)), Depends(check_csrf)],
)
def close_task(
    request: Request,
    session: SessionDep,
    principal: Worker,
    task_id: str,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Close a task with the note of what was done."""
    locale = i18n.negotiate(request)
    try:
        service.close_task(session, principal, task_id, note)
    except CareMatchError as exc:
        session.rollback()
        if isinstance(exc, NotFound):
            raise review.not_found() from None
        context = _context(session, principal, "open", locale)
        context["error"] = i18n.gettext(locale, N_("Nothing was changed:")) + " " + exc.detail
        return _page(request, context, principal, exc.status)
    return review.committed_redirect(session, "/workbench/monitoring?done=closed")
