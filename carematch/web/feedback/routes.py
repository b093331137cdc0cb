"""The public progress board page (公示, R-EV-4): how complaints are handled and how the
rectification ledger (整改台账) advances, for anyone, without signing in.

It shows what ``GET /api/v1/board`` returns — counts by status and category, on-time rates,
each item's provider, category, measure, deadline, status and closure date — and nothing
personal: no complainant, no complaint text, no evidence. Every chart has a table beside it
with the same numbers, for readers without JavaScript or a screen.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from carematch.api.deps import SessionDep
from carematch.feedback import service
from carematch.feedback.complaints import STATUSES
from carematch.feedback.deadlines import category_table
from carematch.feedback.ledger import SHOWN_STATUSES
from carematch.feedback.schemas import BoardCountsPublic, BoardPublic
from carematch.security.authz import Principal, optional_principal, public
from carematch.web import i18n
from carematch.web.feedback.progress import MEASURES, monthly_progress
from carematch.web.i18n import N_
from carematch.web.templating import render

router = APIRouter(dependencies=[Depends(public())], include_in_schema=False)
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
PAGE_SIZE = 20

COMPLAINT_STATUS_LABELS = {
    "received": N_("Received"),
    "accepted": N_("Accepted"),
    "investigating": N_("Investigating"),
    "answered": N_("Answered"),
    "closed": N_("Closed"),
    "rejected": N_("Not accepted"),
}
ITEM_STATUS_LABELS = {
    "open": N_("Awaiting rectification"),
    "in_progress": N_("Rectifying"),
    "done": N_("Rectified, awaiting verification"),
    "verified": N_("Verified and closed"),
    "overdue": N_("Overdue"),
}
# Chart text is translated here and handed to the script as JSON: the script holds no words.
CHART_LABELS = {
    "complaints": N_("Complaints"),
    "items": N_("Rectification items"),
    "load_error": N_("The charts could not be drawn. The tables show the same numbers."),
}


def _rows(counts: dict[str, int], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {"code": code, "label": labels.get(code, code), "count": n} for code, n in counts.items()
    ]


def _counts_view(
    counts: BoardCountsPublic, status_labels: dict[str, str], category_labels: dict[str, str]
) -> dict[str, Any]:
    return {
        "total": counts.total,
        "due": counts.due,
        "on_time": counts.on_time,
        "on_time_rate": counts.on_time_rate,
        "overdue": counts.overdue,
        "by_status": _rows(counts.by_status, status_labels),
        "by_category": _rows(counts.by_category, category_labels),
    }


@router.get("/board", response_class=HTMLResponse)
def board_page(
    request: Request,
    session: SessionDep,
    principal: MaybePrincipal,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> HTMLResponse:
    """The city's progress board: complaint and rectification counts with charts and tables,
    and the ledger's items page by page."""
    locale = i18n.negotiate(request)
    english = locale == "en"

    def tr(message: str) -> str:
        return i18n.gettext(locale, message)

    data = BoardPublic.of(service.board(session, limit=PAGE_SIZE, offset=offset), PAGE_SIZE, offset)
    complaint_labels = {s: tr(COMPLAINT_STATUS_LABELS[s]) for s in STATUSES}
    item_labels = {s: tr(ITEM_STATUS_LABELS[s]) for s in SHOWN_STATUSES}
    category_labels = {
        c.code: c.name_en if english else c.name for c in category_table().categories.values()
    }
    complaints = _counts_view(data.complaints, complaint_labels, category_labels)
    items = _counts_view(data.rectifications, item_labels, category_labels)
    rows = [
        {
            "id": i.id,
            "owner": i.owner_en if english else i.owner,
            "category": category_labels.get(i.category, i.category),
            "measure": i.measure,
            "deadline": i.deadline,
            "status": i.status,
            "status_label": item_labels.get(i.status, i.status),
            "closed_on": i.closed_on,
        }
        for i in data.items
    ]
    charts = {
        "labels": {key: tr(text) for key, text in CHART_LABELS.items()},
        "complaint_status": complaints["by_status"],
        "complaint_category": complaints["by_category"],
        "item_status": items["by_status"],
    }
    context = {
        "as_of": data.as_of,
        "complaints": complaints,
        "items": items,
        "rows": rows,
        "total": data.total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "previous_offset": max(offset - PAGE_SIZE, 0) if offset else None,
        "next_offset": offset + PAGE_SIZE if offset + PAGE_SIZE < data.total else None,
        "charts": charts,
        # R-EV-4: monthly city-wide completion, resource use and participation (aggregates).
        "progress": monthly_progress(session),
        "progress_labels": {m: tr(label) for m, (_, _, label) in MEASURES.items()},
    }
    return render(request, "feedback/board.html", context, principal=principal)
