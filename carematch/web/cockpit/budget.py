"""Risk index and budget proposal in the cockpit (风险指数与预算分配).

An official enters a total and the share that follows risk; the page shows every community of
their area with its risk index, components and proposed amount, as a table and a chart, and
offers the same table as CSV. The work is :mod:`carematch.indicators.funds_service`'s, as for
``GET /api/v1/indicators/risk-index`` and ``POST /api/v1/indicators/budget``; a plain GET form,
so a reload repeats nothing that changes state.
"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from carematch.api.deps import SessionDep
from carematch.indicators.budget import DEFAULT_RISK_SHARE
from carematch.indicators.funds_errors import FundInputRejected
from carematch.indicators.funds_service import budget_proposal
from carematch.indicators.risk_index import COMPONENTS
from carematch.security.authz import Principal, require
from carematch.web import i18n
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render

BUDGET_VIEWERS = ("official",)
Official = Annotated[Principal, Depends(require(*BUDGET_VIEWERS))]
DEFAULT_TOTAL = 10_000_000
MAX_TOTAL = 10**12
CHART_COMMUNITIES = 20
NO_STORE = {"Cache-Control": "no-store"}

COMPONENT_LABELS = {
    "chronic_prevalence": N_("Chronic prevalence"),
    "uncontrolled": N_("Not controlled"),
    "low_literacy": N_("Low health literacy"),
    "uncovered": N_("No family doctor"),
}
CHART_LABELS = {
    "amount": N_("Proposed amount (yuan)"),
    "index": N_("Risk index"),
    "title": N_("Risk index and proposed amount, riskiest communities"),
}
BAD_INPUT = N_(
    "Enter a total of whole yuan from 0 up to 1,000,000,000,000 and a risk share from 0 to 100 %."
)

router = APIRouter(
    prefix="/cockpit/budget",
    dependencies=[Depends(page_guard(*BUDGET_VIEWERS))],
    include_in_schema=False,
)


def _parse(total: str | None, risk: str | None) -> tuple[int, float]:
    try:
        amount = DEFAULT_TOTAL if total in (None, "") else int(str(total).replace(",", "").strip())
        share = DEFAULT_RISK_SHARE if risk in (None, "") else float(str(risk).strip()) / 100
    except ValueError:
        raise FundInputRejected("not a number") from None
    if not (0 <= amount <= MAX_TOTAL and 0 <= share <= 1):
        raise FundInputRejected("out of range")
    return amount, share


def _rows(request: Request, session: Any, principal: Principal, total: int, share: float) -> Any:
    table, lines, source = budget_proposal(session, principal, total, risk_share=share)
    scores = {s.community: s for s in table.scores}
    rows = []
    for line in sorted(lines, key=lambda line: (-line.risk_index, line.community)):
        score = scores[line.community]
        rows.append(
            {
                "community": line.community,
                "name": table.names.get(line.community) or line.community,
                "population": line.population,
                "index": line.risk_index,
                "raw": score.raw,
                "imputed": score.imputed,
                "risk_part": line.risk_part,
                "results_part": line.results_part,
                "amount": line.amount,
                "per_resident": line.amount / line.population if line.population else 0.0,
            }
        )
    return table, rows, source


@router.get("", response_class=HTMLResponse)
def budget_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    total: Annotated[str | None, Query(max_length=20)] = None,
    risk_share: Annotated[str | None, Query(max_length=10)] = None,
) -> HTMLResponse:
    """The form, the chart and the table of the proposal for the official's area."""
    locale = i18n.negotiate(request)
    error = None
    try:
        amount, share = _parse(total, risk_share)
    except FundInputRejected:
        error = i18n.gettext(locale, BAD_INPUT)
        amount, share = DEFAULT_TOTAL, DEFAULT_RISK_SHARE
    try:
        table, rows, source = _rows(request, session, principal, amount, share)
    except FundInputRejected:  # no community with residents in the area yet
        table, rows, source = None, [], None
    chart = [
        {"name": r["name"], "index": r["index"], "amount": r["amount"]}
        for r in rows[:CHART_COMMUNITIES]
    ]
    context = {
        "error": error,
        "total": amount,
        "risk_share_pct": round(share * 100, 2),
        "risk_share_label": f"{share * 100:g}%",
        "results_share_label": f"{100 - share * 100:g}%",
        "as_of": table.as_of if table else None,
        "weights": table.weights if table else {},
        "components": COMPONENTS,
        "component_labels": {k: i18n.gettext(locale, v) for k, v in COMPONENT_LABELS.items()},
        "rows": rows,
        "sum_amount": sum(r["amount"] for r in rows),
        "sum_population": sum(r["population"] for r in rows),
        "chart": {
            "labels": {k: i18n.gettext(locale, v) for k, v in CHART_LABELS.items()},
            "rows": chart,
        },
        "results_periods": source.periods if source and source.kind == "stored" else None,
        "csv_query": f"total={amount}&risk_share={round(share * 100, 2)}",
    }
    response = render(request, "cockpit/budget.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


@router.get("/export.csv")
def budget_csv(
    request: Request,
    session: SessionDep,
    principal: Official,
    total: Annotated[str | None, Query(max_length=20)] = None,
    risk_share: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The proposal as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese names)."""
    amount, share = _parse(total, risk_share)
    _, rows, _ = _rows(request, session, principal, amount, share)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "community",
            "name",
            "population",
            "risk_index",
            *COMPONENTS,
            "risk_part",
            "results_part",
            "amount",
        ]
    )
    for r in rows:
        writer.writerow(
            [
                r["community"],
                r["name"],
                r["population"],
                r["index"],
                *(("" if r["raw"][c] is None else round(r["raw"][c], 4)) for c in COMPONENTS),
                r["risk_part"],
                r["results_part"],
                r["amount"],
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="budget-proposal.csv"', **NO_STORE},
    )
