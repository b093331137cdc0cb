"""The review queue (人工复核) in the workbench: pairs the linker could not decide.

A reviewer opens a pair, sees both records side by side with the match-weight waterfall, and
decides: same person (link) or different people (separate). Every decision is audited by
``review_service`` and can be undone. Forms are plain POSTs answered with a redirect, so they
work without JavaScript and a reload never repeats a decision.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from carematch.api.deps import SessionDep
from carematch.core.errors import Conflict, NotFound
from carematch.identity import repository, review_service
from carematch.identity.review_endpoints import REVIEWERS
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard, safe_next
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for
from carematch.web.workbench.records import (
    FIELD_LABELS,
    compare,
    record_view,
    region_namer,
    source_label,
)

Reviewer = Annotated[Principal, Depends(require(*REVIEWERS))]
PAGE_SIZE = 20
Offset = Annotated[int, Query(ge=0)]
# Pages showing identifiers in full must not linger in shared caches or the browser's disk.
NO_STORE = {"Cache-Control": "no-store"}

# The comparisons of the linkage model (carematch.identity.linkage) and the waterfall's ends.
COMPARISON_LABELS = {
    **FIELD_LABELS,
    "prior": N_("Prior (before any evidence)"),
    "total": N_("Match weight"),
}

# Vaccinators use the workbench but do not decide who is who: they get the readable 403 page.
router = APIRouter(
    prefix="/review", dependencies=[Depends(page_guard(*REVIEWERS))], include_in_schema=False
)


def not_found() -> HTTPException:
    """A 404 that the page handler shows as the "page not found" page to a browser.

    A pair or person in another district is "not found", never "forbidden", so that a
    worker cannot learn what exists outside their jurisdiction.
    """
    return HTTPException(status_code=404)


def conflict_page(request: Request, session: Session, principal: Principal, back: str) -> Response:
    """The answer when a decision meets data someone else has changed (another tab, a colleague).

    Anything the failed call flushed is rolled back first: the request edge commits whatever
    the session holds when the route returns normally.
    """
    session.rollback()
    return render(
        request,
        "workbench/review/conflict.html",
        {"back": back},
        principal=principal,
        status_code=409,
    )


def committed_redirect(session: Session, url: str) -> RedirectResponse:
    """Commit the decision, then send the browser on to ``url``.

    SessionDep commits when the request's dependencies close, which FastAPI does only after
    the response has been sent; a browser following this redirect at once could then read the
    page before the decision is stored, and see it undone. So a decision commits here first.
    """
    session.commit()
    return RedirectResponse(url, status_code=303)


def waterfall_rows(bars: list[dict[str, Any]], locale: str) -> dict[str, Any]:
    """Lay the match-weight bars out as a horizontal waterfall, in percent of the chart width.

    Each evidence bar starts where the previous one ended (the prior starts at 0), so the
    reader sees the weight build up to the total; the total is drawn from 0. Returns the rows
    and where the zero line falls.
    """
    spans: list[tuple[float, float]] = []
    running = 0.0
    for bar in bars:
        weight = float(bar["weight"])
        if bar["comparison"] == "total":
            spans.append((0.0, weight))
        else:
            spans.append((running, running + weight))
            running += weight
    points = [0.0, *(p for span in spans for p in span)]
    low, high = min(points), max(points)
    width = (high - low) or 1.0
    rows = []
    for bar, (start, end) in zip(bars, spans, strict=True):
        name = bar["comparison"]
        label = COMPARISON_LABELS.get(name)
        kind = "total" if name == "total" else ("for" if end >= start else "against")
        rows.append(
            {
                "comparison": name,
                "label": i18n.gettext(locale, label) if label else name,
                "level": bar.get("level") or "",
                "weight": float(bar["weight"]),
                "kind": kind,
                "left": round((min(start, end) - low) / width * 100, 2),
                # A zero weight still gets a sliver, so every row visibly has a bar.
                "width": round(max(abs(end - start) / width * 100, 0.5), 2),
            }
        )
    return {"rows": rows, "zero": round((0.0 - low) / width * 100, 2)}


def _queue_context(
    request: Request, session: Session, principal: Principal, offset: int
) -> dict[str, Any]:
    total, pairs = review_service.list_pairs(session, principal, "open", PAGE_SIZE, offset)
    locale = i18n.negotiate(request)
    region_name = region_namer(session, locale)
    pks = [pk for p in pairs for pk in (p.record_pk_l, p.record_pk_r)]
    # Only each record's source is shown here: the queue carries no identifiers, so listing
    # it is not a read of personal data (opening a pair is, and is audited).
    sources = {r.id: r.source for r in repository.records_by_pk(session, pks)} if pks else {}
    items = [
        {
            "id": p.id,
            "probability": p.probability,
            "match_weight": p.match_weight,
            "community": region_name(p.community_code) if p.community_code else "",
            "community_code": p.community_code or "",
            "sources": (
                source_label(sources.get(p.record_pk_l, ""), locale),
                source_label(sources.get(p.record_pk_r, ""), locale),
            ),
        }
        for p in pairs
    ]

    def query(at: int) -> str:
        return urlencode({"offset": at})

    return {
        "pairs": items,
        "total": total,
        "offset": offset,
        "prev_query": query(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next_query": query(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
        "page_url": "/workbench/review?" + query(offset),
    }


@router.get("", response_class=HTMLResponse)
def queue(
    request: Request, session: SessionDep, principal: Reviewer, offset: Offset = 0
) -> HTMLResponse:
    """The open pairs in the reviewer's jurisdiction, most uncertain first."""
    context = _queue_context(request, session, principal, offset)
    return render(request, "workbench/review/index.html", context, principal=principal)


@router.get("/queue", response_class=HTMLResponse)
def queue_fragment(
    request: Request, session: SessionDep, principal: Reviewer, offset: Offset = 0
) -> HTMLResponse:
    """One page of the queue as an HTML fragment (swapped in by HTMX)."""
    context = _queue_context(request, session, principal, offset)
    response = render(request, "workbench/review/_queue.html", context, principal=principal)
    # As on the person list: the address bar names the whole page, not the fragment.
    response.headers["HX-Push-Url"] = context["page_url"]
    return response


@router.get("/{pair_id}", response_class=HTMLResponse)
def pair_page(
    request: Request, session: SessionDep, principal: Reviewer, pair_id: str
) -> HTMLResponse:
    """Both records side by side, the evidence, both persons and the decision buttons."""
    try:
        view = review_service.view_pair(session, principal, pair_id)
    except NotFound:
        raise not_found() from None
    locale = i18n.negotiate(request)
    region_name = region_namer(session, locale)
    left = record_view(view.left, locale, region_name)
    right = record_view(view.right, locale, region_name)
    pair = view.pair
    context = {
        "pair": pair,
        "change": json.loads(pair.change or "{}"),
        "community": region_name(pair.community_code) if pair.community_code else "",
        "left": left,
        "right": right,
        "rows": compare(left, right, locale),
        "person_left": view.person_left,
        "person_right": view.person_right,
        "waterfall": waterfall_rows(view.waterfall, locale),
        "csrf_token": token_for(request),
    }
    response = render(request, "workbench/review/pair.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


@router.post("/{pair_id}/decision", dependencies=[Depends(check_csrf)])
def decide(
    request: Request,
    session: SessionDep,
    principal: Reviewer,
    pair_id: str,
    decision: Annotated[Literal["link", "separate"], Form()],
) -> Response:
    """Record "same person" (the persons merge) or "different people" (the record splits off)."""
    back = f"/workbench/review/{pair_id}"
    try:
        review_service.decide(session, principal, pair_id, decision)
    except NotFound:
        raise not_found() from None
    except Conflict:
        return conflict_page(request, session, principal, back)
    return committed_redirect(session, back)


@router.post("/{pair_id}/undo", dependencies=[Depends(check_csrf)])
def undo(
    request: Request,
    session: SessionDep,
    principal: Reviewer,
    pair_id: str,
    next: Annotated[str, Form()] = "",
) -> Response:
    """Reverse a decision (unmerge, or re-join a split record) and reopen the pair."""
    back = safe_next(next) or f"/workbench/review/{pair_id}"
    try:
        review_service.undo(session, principal, pair_id)
    except NotFound:
        raise not_found() from None
    except Conflict:
        return conflict_page(request, session, principal, back)
    return committed_redirect(session, back)
