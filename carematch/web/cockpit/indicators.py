"""The officials' indicator cockpit (指标驾驶舱): targets, map, trends, forecasts, warnings.

``/cockpit/indicators?region=CODE&period=YYYY-MM&breakdown=total&indicator=ID`` shows, for one
region inside the official's jurisdiction (default: their own), every indicator against its
target with a traffic light (colour *and* a word and a symbol), grouped by dimension; the
regions one level down for a chosen indicator (a plain link each, so the drill-down city →
district → street → community works without JavaScript); a district map and a trend of that
indicator; the region's open indicator warnings with a rectify form; and the count of open
chronic-monitoring follow-ups. Forecast hot spots are read by the script from
``/api/v1/forecasting`` (forecasting is slow enough not to hold up the page).

The numbers are :mod:`carematch.indicators.service`'s, exactly as ``GET /api/v1/indicators``
returns them, so the page, its CSV/XLSX export and the API cannot disagree. An export is a data
release and is audited.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from carematch.api.deps import SessionDep
from carematch.core.clock import city_today
from carematch.core.errors import CareMatchError, NotFound
from carematch.core.models import Region
from carematch.indicators import service
from carematch.indicators.models import IndicatorValue
from carematch.indicators.repository import city_code
from carematch.monitoring.models import MonitoringAlert, MonitoringTask
from carematch.providers.catalogue import service_catalogue
from carematch.security import audit
from carematch.security.authz import Principal, require
from carematch.security.jurisdiction import region_prefix
from carematch.web import i18n
from carematch.web.cockpit.data import geojson_path
from carematch.web.guards import page_guard
from carematch.web.i18n import N_
from carematch.web.templating import render
from carematch.web.workbench.csrf import check_csrf, token_for

VIEWERS = ("official",)
Official = Annotated[Principal, Depends(require(*VIEWERS))]
NO_STORE = {"Cache-Control": "no-store"}
BREAKDOWNS = ("total", "hukou", "age_group", "policy")
DIMENSIONS = ("process", "outcome", "benefit")
LEVELS = ("city", "district", "street", "community")
DEFAULT_INDICATOR = "chronic_control_rate"
ALERT_DAYS = 30
PERIOD_CHOICES = 24

DIMENSION_LABELS = {
    "process": N_("Process"),
    "outcome": N_("Outcome"),
    "benefit": N_("Benefit"),
}
# A light is never colour alone: each has a symbol and a word (WCAG 1.4.1).
STATUS_LABELS = {
    "green": N_("On target"),
    "amber": N_("Near target"),
    "red": N_("Off target"),
    "none": N_("No target"),
    "no_data": N_("No data"),
}
STATUS_ICONS = {"green": "✔", "amber": "▲", "red": "✖", "none": "–", "no_data": "○"}
BREAKDOWN_LABELS = {
    "total": N_("Total"),
    "hukou": N_("Local or migrant"),
    "age_group": N_("Age group"),
    "policy": N_("Policy"),
}
GROUP_LABELS = {
    "local": N_("Local residents"),
    "migrant": N_("Migrants"),
    "child": N_("Children (under 18)"),
    "adult": N_("Adults"),
    "elderly": N_("Elderly (65 and over)"),
}
LEVEL_LABELS = {
    "city": N_("Districts"),
    "district": N_("Streets"),
    "street": N_("Communities"),
}
CHART_LABELS = {
    "value": N_("Value"),
    "target": N_("Target"),
    "map_title": N_("Indicator by district"),
    "trend_title": N_("Trend against target"),
    "forecast_title": N_("Weekly demand forecast, interval (80%)"),
    "history": N_("Demands per week"),
    "forecast": N_("Forecast"),
    "band": N_("Interval (80%)"),
    "no_data": N_("No data"),
    "no_hotspots": N_(
        "No forecast yet: a district and service need at least 8 weeks of demand history."
    ),
    "load_error": N_("The charts could not be loaded. The tables show the same numbers."),
    "signed_out": N_("Your session has ended. Sign in again to see the charts."),
    "service": N_("Service"),
    "district": N_("District"),
    "recent": N_("Recent per week"),
    "expected": N_("Expected per week"),
    "interval": N_("Interval (80%)"),
}
RECTIFIED = N_("The warning is now on the rectification ledger.")
BAD_REQUEST = N_("That region, month or breakdown cannot be shown.")

# Export headers: Chinese first, English beside it (the officials' spreadsheets are Chinese).
EXPORT_COLUMNS = (
    ("region_code", "地区代码"),
    ("region_name", "地区"),
    ("period", "统计期"),
    ("dimension", "维度"),
    ("indicator_id", "指标代码"),
    ("name", "指标"),
    ("disaggregation", "分组方式"),
    ("group_key", "分组"),
    ("numerator", "分子"),
    ("denominator", "分母"),
    ("value", "数值"),
    ("target", "目标"),
    ("direction", "方向"),
    ("status", "状态"),
)

router = APIRouter(
    prefix="/cockpit/indicators",
    dependencies=[Depends(page_guard(*VIEWERS))],
    include_in_schema=False,
)


class BadCockpitQuery(CareMatchError):
    """A breakdown the cockpit does not offer."""

    status = 400
    type = "/problems/invalid-indicator-query"
    title = "Invalid indicator query"


@dataclass(frozen=True)
class Crumb:
    """One step of the breadcrumbs: a region, linked when the official may open it."""

    code: str
    label: str
    link: bool


def export_header() -> list[str]:
    """The export's column titles: ``地区代码 region_code`` …"""
    return [f"{zh} {en}" for en, zh in EXPORT_COLUMNS]


def export_rows(items: list[dict[str, Any]]) -> list[list[Any]]:
    """The API's points as export rows, values unrounded (so they equal the API's)."""
    return [[item[key] for key, _ in EXPORT_COLUMNS] for item in items]


def _region(session: Session, principal: Principal, code: str | None) -> Region:
    """The region to show: asked for (inside the jurisdiction) or the official's own."""
    code = (code or "").strip() or principal.jurisdiction or city_code(session)
    if code is None:
        raise NotFound("no region tree is loaded")
    if not principal.can_see(code):
        # The indicators service refuses it the same way the API does (403).
        service.latest_values(session, principal, region=code, limit=1)
    region = session.get(Region, code)
    if region is None:
        raise NotFound(f"no region {code}")
    return region


def _crumbs(session: Session, principal: Principal, region: Region, locale: str) -> list[Crumb]:
    chain: list[Region] = []
    at: Region | None = region
    while at is not None and at.level in LEVELS:
        chain.append(at)
        at = session.get(Region, at.parent_code) if at.parent_code else None
    return [
        Crumb(r.code, i18n.localized_name(r.name, r.name_en, locale), principal.can_see(r.code))
        for r in reversed(chain)
    ]


def _periods(session: Session) -> list[str]:
    rows = session.scalars(
        select(IndicatorValue.period)
        .distinct()
        .order_by(IndicatorValue.period.desc())
        .limit(PERIOD_CHOICES)
    )
    return list(rows)


def format_value(kind: str, indicator_id: str, value: float | None, locale: str) -> str:
    """A value as the table shows it: shares as per cent, changes signed, others as numbers."""
    if value is None:
        return "—"
    if kind == "rate" or indicator_id == "policy_budget_use":
        return _pct(value)
    if kind == "change":
        return f"{value * 100:+.1f}%"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _view(item: dict[str, Any], locale: str, region_code: str) -> dict[str, Any]:
    english = locale == "en"
    return {
        **item,
        "label": item["name_en"] if english else item["name"],
        "group_label": i18n.gettext(locale, GROUP_LABELS[item["group_key"]])
        if item["group_key"] in GROUP_LABELS
        else item["group_key"],
        "shown": format_value(item["kind"], item["indicator_id"], item["value"], locale),
        "target_shown": format_value(item["kind"], item["indicator_id"], item["target"], locale),
        "direction_shown": {">=": "≥", "<=": "≤"}.get(item["direction"], item["direction"]),
        "status_label": i18n.gettext(locale, STATUS_LABELS.get(item["status"], item["status"])),
        "icon": STATUS_ICONS.get(item["status"], "?"),
        "region_label": i18n.localized_name(
            item["region_name"] or region_code, item["region_name_en"], locale
        ),
    }


def _monitoring_counts(session: Session, region: str) -> dict[str, int]:
    """Open follow-up tasks (and how many are overdue) and recent alerts in the region."""
    prefix = f"{region_prefix(region)}%"
    today = city_today()
    open_tasks = select(func.count()).where(
        MonitoringTask.status == "open", MonitoringTask.region_code.like(prefix)
    )
    return {
        "open_tasks": int(session.scalar(open_tasks) or 0),
        "overdue_tasks": int(session.scalar(open_tasks.where(MonitoringTask.due_on < today)) or 0),
        "recent_alerts": int(
            session.scalar(
                select(func.count()).where(
                    MonitoringAlert.region_code.like(prefix),
                    MonitoringAlert.alert_date >= today - timedelta(days=ALERT_DAYS),
                )
            )
            or 0
        ),
    }


def _check_breakdown(breakdown: str) -> None:
    if breakdown not in BREAKDOWNS:
        raise BadCockpitQuery(f"breakdown must be one of {', '.join(BREAKDOWNS)}")


def _query(**params: str | None) -> str:
    return urlencode({k: v for k, v in params.items() if v})


def _page_context(
    request: Request,
    session: Session,
    principal: Principal,
    region_code: str | None,
    period: str | None,
    breakdown: str,
    indicator: str | None,
) -> dict[str, Any]:
    locale = i18n.negotiate(request)
    _check_breakdown(breakdown)
    region = _region(session, principal, region_code)
    found, items = service.latest_values(
        session, principal, region=region.code, disaggregation=breakdown, period=period, limit=5000
    )
    rows = [_view(item, locale, region.code) for item in items]
    groups = [
        {
            "dimension": dim,
            "label": i18n.gettext(locale, DIMENSION_LABELS[dim]),
            "rows": [r for r in rows if r["dimension"] == dim],
        }
        for dim in DIMENSIONS
    ]
    groups = [g for g in groups if g["rows"]]
    totals = rows if breakdown == "total" else []
    if breakdown != "total":
        _, total_items = service.latest_values(
            session, principal, region=region.code, period=found, limit=5000
        )
        totals = [_view(item, locale, region.code) for item in total_items]
    choices = sorted(
        {(t["indicator_id"], t["label"]) for t in totals if t["target"] is not None},
        key=lambda c: c[0],
    )
    chosen = indicator if indicator in {c[0] for c in choices} else None
    if chosen is None:
        red = [t["indicator_id"] for t in totals if t["status"] == "red"]
        ids = [c[0] for c in choices]
        chosen = (
            DEFAULT_INDICATOR
            if DEFAULT_INDICATOR in ids
            else (red[0] if red else (ids[0] if ids else None))
        )
    # One level down, for the chosen indicator: the drill-down table and the map's colours.
    children: list[dict[str, Any]] = []
    districts: list[dict[str, Any]] = []
    trend: list[dict[str, Any]] = []
    if chosen and found:
        _, below = service.latest_values(
            session,
            principal,
            region=region.code,
            indicator_id=chosen,
            period=found,
            subregions=True,
            limit=100_000,
        )
        parents = {
            r.code: r.parent_code
            for r in session.scalars(
                select(Region).where(Region.code.in_([b["region_code"] for b in below]))
            )
        }
        children = [
            _view(b, locale, b["region_code"])
            for b in below
            if parents.get(b["region_code"]) == region.code
        ]
        scope = principal.jurisdiction or city_code(session)
        _, wide = service.latest_values(
            session,
            principal,
            region=scope,
            indicator_id=chosen,
            period=found,
            subregions=True,
            limit=100_000,
        )
        districts = [
            {
                "code": w["region_code"],
                "label": i18n.localized_name(w["region_name"], w["region_name_en"], locale),
                "value": w["value"],
                "shown": format_value(w["kind"], w["indicator_id"], w["value"], locale),
                "status": w["status"],
                "status_label": i18n.gettext(locale, STATUS_LABELS[w["status"]]),
            }
            for w in wide
            if len(w["region_code"]) == 6 and w["region_code"] != city_code(session)
        ]
        trend = [
            {"period": p["period"], "value": p["value"], "target": p["target"]}
            for p in service.series(session, principal, chosen, region=region.code)
        ]
    warnings = [
        w
        for w in service.list_warnings(session, principal, status="open", limit=500)
        if w["region_code"].startswith(region_prefix(region.code))
    ]
    names = {
        r.code: i18n.localized_name(r.name, r.name_en, locale)
        for r in session.scalars(
            select(Region).where(Region.code.in_({w["region_code"] for w in warnings}))
        )
    }
    for w in warnings:
        w["region_label"] = names.get(w["region_code"], w["region_code"])
        w["label"] = w["name_en"] if locale == "en" else w["name"]
        kind = "rate" if 0 <= w["value"] <= 1 and 0 <= w["baseline"] <= 1 else "mean"
        w["shown"] = format_value(kind, w["indicator_id"], w["value"], locale)
        w["baseline_shown"] = format_value(kind, w["indicator_id"], w["baseline"], locale)
    chosen_label = next((c[1] for c in choices if c[0] == chosen), chosen)
    district = region.code[:6] if region.level != "city" else None
    labels = {key: i18n.gettext(locale, text) for key, text in CHART_LABELS.items()}
    english = locale == "en"
    labels_json = {
        **labels,
        "indicator": chosen_label or "",
        "services": {
            code: (info.name_en if english else info.name)
            for code, info in service_catalogue().items()
        },
    }
    query = _query(region=region.code, period=found, breakdown=breakdown)
    status_counts = {s: sum(1 for r in totals if r["status"] == s) for s in STATUS_LABELS}
    return {
        "region": region,
        "region_label": i18n.localized_name(region.name, region.name_en, locale),
        "crumbs": _crumbs(session, principal, region, locale),
        "period": found,
        "periods": _periods(session),
        "breakdown": breakdown,
        "breakdowns": [(b, i18n.gettext(locale, BREAKDOWN_LABELS[b])) for b in BREAKDOWNS],
        "groups": groups,
        "rows": rows,
        "status_counts": status_counts,
        "status_labels": {k: i18n.gettext(locale, v) for k, v in STATUS_LABELS.items()},
        "status_icons": STATUS_ICONS,
        "choices": choices,
        "chosen": chosen,
        "chosen_label": chosen_label,
        "children": children,
        "children_title": i18n.gettext(locale, LEVEL_LABELS[region.level])
        if region.level in LEVEL_LABELS
        else None,
        "warnings": warnings,
        "monitoring": _monitoring_counts(session, region.code),
        "map_available": bool(districts) and geojson_path().is_file(),
        "chart": {
            "labels": labels_json,
            "districts": districts,
            "trend": trend,
            "district": district,
            "region": region.code,
            "indicator": chosen,
            "period": found,
            "breakdown": breakdown,
        },
        "csrf_token": token_for(request),
        "export_query": query,
        "today": city_today().isoformat(),
        "default_deadline": (city_today() + timedelta(days=30)).isoformat(),
        "link": lambda code: (
            "/cockpit/indicators?"
            + _query(region=code, period=found, breakdown=breakdown, indicator=chosen)
        ),
    }


@router.get("", response_class=HTMLResponse)
def indicators_page(
    request: Request,
    session: SessionDep,
    principal: Official,
    region: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
    breakdown: Annotated[str, Query(max_length=16)] = "total",
    indicator: Annotated[str | None, Query(max_length=64)] = None,
    notice: Annotated[str | None, Query(max_length=16)] = None,
) -> HTMLResponse:
    """The indicator cockpit for one region (default: the official's own)."""
    context = _page_context(request, session, principal, region, period, breakdown, indicator)
    locale = i18n.negotiate(request)
    context["notice"] = i18n.gettext(locale, RECTIFIED) if notice == "rectified" else None
    context["error"] = None
    context["error_warning"] = None
    response = render(request, "cockpit/indicators.html", context, principal=principal)
    response.headers.update(NO_STORE)
    return response


def _export_items(
    session: Session, principal: Principal, region: str | None, period: str | None, breakdown: str
) -> tuple[Region, str | None, list[dict[str, Any]]]:
    _check_breakdown(breakdown)
    found_region = _region(session, principal, region)
    found, items = service.latest_values(
        session,
        principal,
        region=found_region.code,
        disaggregation=breakdown,
        period=period,
        limit=5000,
    )
    audit.record(
        session,
        actor=principal.username,
        action="indicators.export",
        entity="region",
        entity_id=found_region.code,
        detail={"period": found, "breakdown": breakdown, "rows": len(items)},
    )
    return found_region, found, items


def _filename(region: Region, period: str | None, breakdown: str, ext: str) -> str:
    return f"indicators-{region.code}-{period or 'none'}-{breakdown}.{ext}"


@router.get("/export.csv")
def export_csv(
    session: SessionDep,
    principal: Official,
    region: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
    breakdown: Annotated[str, Query(max_length=16)] = "total",
) -> Response:
    """The table shown, as CSV: UTF-8 with a BOM so spreadsheet programs read the Chinese."""
    found_region, found, items = _export_items(session, principal, region, period, breakdown)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(export_header())
    writer.writerows(["" if v is None else v for v in row] for row in export_rows(items))
    name = _filename(found_region, found, breakdown, "csv")
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


@router.get("/export.xlsx")
def export_xlsx(
    session: SessionDep,
    principal: Official,
    region: Annotated[str | None, Query(max_length=12)] = None,
    period: Annotated[str | None, Query(max_length=7)] = None,
    breakdown: Annotated[str, Query(max_length=16)] = "total",
) -> Response:
    """The table shown, as an Excel workbook (one sheet, the same columns as the CSV)."""
    from openpyxl import Workbook

    found_region, found, items = _export_items(session, principal, region, period, breakdown)
    book = Workbook()
    sheet = book.active
    sheet.title = "指标 indicators"
    sheet.append(export_header())
    for row in export_rows(items):
        sheet.append(row)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    name = _filename(found_region, found, breakdown, "xlsx")
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


@router.post("/warnings/{warning_id}/rectify", dependencies=[Depends(check_csrf)])
def rectify_warning(
    request: Request,
    session: SessionDep,
    principal: Official,
    warning_id: str,
    measure: Annotated[str, Form(max_length=2000)] = "",
    deadline: Annotated[str, Form(max_length=10)] = "",
    department: Annotated[str, Form(max_length=200)] = "",
    category: Annotated[str, Form(max_length=64)] = "service_quality",
    region: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Put a warning on the rectification ledger, then show the cockpit again."""
    locale = i18n.negotiate(request)
    try:
        due = date.fromisoformat(deadline.strip())
        service.rectify(
            session,
            principal,
            warning_id,
            measure=measure.strip(),
            deadline=due,
            department=department.strip(),
            category=category.strip() or "service_quality",
        )
    except (ValueError, CareMatchError) as exc:
        if isinstance(exc, CareMatchError) and exc.status in (403, 404):
            raise
        session.rollback()
        context = _page_context(request, session, principal, region or None, None, "total", None)
        context["notice"] = None
        context["error"] = (
            exc.detail if isinstance(exc, CareMatchError) else i18n.gettext(locale, BAD_REQUEST)
        )
        context["error_warning"] = warning_id
        return render(
            request, "cockpit/indicators.html", context, principal=principal, status_code=400
        )
    target = "/cockpit/indicators?" + _query(region=region or None, notice="rectified")
    return RedirectResponse(target, status_code=303)
