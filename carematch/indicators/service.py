"""Use cases of the indicators: refresh a period, read values and series, warn, rectify.

A refresh computes every indicator for one month (the features view as of the month's last day,
or today while the month runs), replaces that month's stored points, and judges each series'
latest point for an abnormal drop. It runs after every ingest (the after-ingest hook
:func:`after_ingest`) and from ``carematch indicators refresh``. Services flush; the edge
(endpoint dependency, CLI command, hook runner) commits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy.orm import Session

from carematch.core.clock import city_today, utcnow
from carematch.core.hooks import IngestEvent
from carematch.core.ids import new_id
from carematch.indicators import repository
from carematch.indicators.anomaly import Point, detect
from carematch.indicators.compute import INPUTS, Period, compute, input_table, result_row
from carematch.indicators.definitions import (
    Indicator,
    IndicatorLibrary,
    composite_scores,
    default_definitions,
)
from carematch.indicators.errors import (
    IndicatorNotFound,
    InvalidIndicatorQuery,
    OutsideJurisdiction,
    WarningNotFound,
    WarningStateConflict,
)
from carematch.indicators.models import WARNING_STATUSES, IndicatorValue, IndicatorWarning
from carematch.security import audit
from carematch.security.authz import Principal

Progress = Callable[[str], None]
DISAGGREGATIONS = ("total", "hukou", "age_group", "policy")
# Too few units to judge a rate's month-to-month change (a handful of patients).
MIN_DENOMINATOR = 20
# Where the provider functions are run besides the city: once per region at these levels.
# Policy execution costs a few tenths of a second per region even with the features view
# computed once per unit of work, and a refresh runs after every ingest: city and districts.
VACCINATION_LEVELS = ("district", "street", "community")
POLICY_LEVELS: tuple[str, ...] = ("district",)
NOT_SHARES = ("aefi_rate_per_100k", "budget_used")
MONTHS_ON_FULL_LOAD = 6


@dataclass
class RefreshSummary:
    """What one refresh did."""

    period: str
    as_of: str
    persons: int
    points: int
    by_status: dict[str, int]
    warnings: int
    notified: int
    skipped: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _people_and_inputs(session: Session, as_of: date) -> tuple[pa.Table, dict[str, pa.Table]]:
    """The features view and every engine input, read from the database as Arrow."""
    from carematch.identity.service import linked_records
    from carematch.profiling.service import features_for
    from carematch.vaccination.appointments import VACCINATION_SERVICES

    people = features_for(session, as_of=as_of)
    surveys: list[dict[str, Any]] = []
    settlements: list[dict[str, Any]] = []
    for record in linked_records(session, sources=("survey", "insurance")):
        row = {"person_id": record.person_id, "record_id": record.record_id, **record.values}
        (surveys if record.source == "survey" else settlements).append(row)
    for row in (*surveys, *settlements):
        for name in ("survey_date", "settlement_date"):
            if isinstance(row.get(name), str):
                row[name] = date.fromisoformat(row[name])
    inputs = {
        "demand_rows": input_table("demand_rows", repository.demand_rows(session)),
        "survey_rows": input_table("survey_rows", surveys),
        "settlement_rows": input_table("settlement_rows", settlements),
        "rating_rows": input_table("rating_rows", repository.rating_rows(session)),
        "complaint_rows": input_table("complaint_rows", repository.complaint_rows(session)),
        "vaccination_services": input_table(
            "vaccination_services", [{"service": s} for s in VACCINATION_SERVICES]
        ),
    }
    assert set(inputs) == set(INPUTS)
    return people, inputs


def _city(session: Session, people: pa.Table) -> str:
    code = repository.city_code(session)
    if code:
        return code
    # No region tree loaded: the city is the one its communities' codes start with.
    counts = Counter(str(c)[:4] for c in people.column("community").to_pylist() if c)
    return (counts.most_common(1)[0][0] if counts else "0000") + "00"


def _vaccination_rows(
    session: Session, indicators: list[Indicator], period: Period, city: str
) -> list[dict[str, Any]]:
    from carematch.vaccination.quality import quality_indicators

    rows = []
    regions = [city, *repository.region_codes(session, VACCINATION_LEVELS)]
    recorded = False
    for region in regions:
        if region != city and not recorded:
            break  # nothing recorded anywhere in the city this month
        q = quality_indicators(
            session,
            period.start,
            period.end,
            region=None if region == city else region,
            with_children=False,
        )
        if region == city:
            recorded = bool(q.bookings or q.doses_given or q.reviewed)
        elif not (q.bookings or q.doses_given or q.reviewed):
            continue  # nothing recorded there this month: no point
        figures = {
            "booking_success_rate": (q.kept, q.kept + q.no_show, q.booking_success_rate),
            "review_agreement": (q.review_agreed, q.reviewed, q.review_agreement),
            "booking_lead_days_median": (None, None, q.booking_lead_days_median),
            "doses_given": (q.doses_given, None, float(q.doses_given)),
            "aefi_rate_per_100k": (q.aefi_reports, q.doses_given, q.aefi_rate_per_100k),
        }
        for indicator in indicators:
            num, den, value = figures[str(indicator.measure)]
            rows.append(result_row(indicator, region, num, den, value))
    return rows


def _policy_rows(
    session: Session, indicators: list[Indicator], period: Period, city: str
) -> list[dict[str, Any]]:
    from carematch.policy.execution import execution_indicators

    rows = []
    for region in [city, *repository.region_codes(session, POLICY_LEVELS)]:
        found = execution_indicators(
            session, period.start, period.last_day, None if region == city else region
        )
        for indicator in indicators:
            for policy in found:
                if indicator.measure == "coverage":
                    figures = (policy["served"], policy["eligible"], policy["coverage"])
                elif indicator.measure == "budget_used":
                    figures = (policy["spend"], policy["budget"], policy["budget_used"])
                else:
                    figures = (policy["complaints"], None, float(policy["complaints"]))
                row = result_row(indicator, region, *figures)
                row.update(disaggregation="policy", group_key=policy["policy"])
                rows.append(row)
            if indicator.measure == "coverage":
                served = sum(p["served"] for p in found)
                eligible = sum(p["eligible"] for p in found)
                value = served / eligible if eligible else None
                rows.append(result_row(indicator, region, served, eligible, value))
    return rows


def refresh(
    session: Session,
    period: Period | None = None,
    *,
    library: IndicatorLibrary | None = None,
    today: date | None = None,
    notify: bool = True,
    progress: Progress | None = None,
) -> RefreshSummary:
    """Compute every indicator for one month, replace its stored points, raise warnings.

    Idempotent: rerunning a period replaces its points (never duplicates them) and finds the
    warnings it raised before.

    Raises:
        InvalidIndicatorQuery: a month that has not begun.
    """
    today = today or city_today()
    period = period or Period.containing(today)
    if period.start > today:
        raise InvalidIndicatorQuery(f"period {period.label} has not begun")
    library = library or default_definitions()
    as_of = min(period.last_day, today)
    if progress:
        progress("reading records")
    people, inputs = _people_and_inputs(session, as_of)
    city = _city(session, people)
    if progress:
        progress("computing")
    table = compute(library, people, inputs, period, city, as_of=as_of)
    rows = table.to_pylist()
    skipped: dict[str, str] = {}
    by_provider: dict[str, list[Indicator]] = defaultdict(list)
    for indicator in library.values():
        if indicator.provider:
            by_provider[indicator.provider].append(indicator)
    providers = {"vaccination_quality": _vaccination_rows, "policy_execution": _policy_rows}
    for name, indicators in by_provider.items():
        if progress:
            progress(name)
        try:
            rows += providers[name](session, indicators, period, city)
        except ImportError as exc:  # the providing domain is not installed in this build
            skipped[name] = str(exc)
    now = utcnow()
    stored = [
        {**row, "id": new_id(), "period": period.label, "computed_at": now}
        for row in rows
        if row["indicator_id"] not in {i.id for p in skipped for i in by_provider[p]}
    ]
    repository.replace_period(session, period.label, list(library), stored)
    session.flush()
    if progress:
        progress("warnings")
    raised, notified = raise_warnings(session, period, library, today=today, notify=notify)
    return RefreshSummary(
        period=period.label,
        as_of=as_of.isoformat(),
        persons=people.num_rows,
        points=len(stored),
        by_status=dict(sorted(Counter(r["status"] for r in stored).items())),
        warnings=len(raised),
        notified=notified,
        skipped=skipped,
    )


def after_ingest(session: Session, event: IngestEvent) -> dict[str, Any]:
    """After-ingest hook: the current month's indicators are fresh after every ingest.

    After a whole city was loaded (``full_load``), the months before it are computed too
    (:data:`MONTHS_ON_FULL_LOAD` in all, quietly: warnings on history are not sent), so trends
    and the drop detector have a series from the first day.
    """
    month = Period.containing(city_today())
    months = [month]
    while event.full_load and len(months) < MONTHS_ON_FULL_LOAD:
        months.insert(0, months[0].previous())
    for earlier in months[:-1]:
        refresh(session, earlier, notify=False)
    summary = refresh(session, month)
    out = {k: v for k, v in summary.as_dict().items() if k != "by_status"}
    out["months"] = len(months)
    return out


# --- warnings -------------------------------------------------------------------------------

SeriesKey = tuple[str, str, str, str]


def _series(points: Iterable[IndicatorValue]) -> dict[SeriesKey, list[IndicatorValue]]:
    out: dict[SeriesKey, list[IndicatorValue]] = defaultdict(list)
    for p in points:
        out[(p.indicator_id, p.region_code, p.disaggregation, p.group_key)].append(p)
    return out


def _percent(indicator: Indicator, value: float) -> str:
    return f"{value * 100:.1f}%" if indicator.kind == "rate" and value <= 1 else f"{value:.1f}"


def raise_warnings(
    session: Session,
    period: Period,
    library: IndicatorLibrary,
    *,
    today: date,
    notify: bool = True,
) -> tuple[list[IndicatorWarning], int]:
    """Judge each series' point for ``period``; store and send a warning for each bad change.

    A series that already has a warning not dismissed gets no second one (the supervisor knows),
    and a rerun of the same period finds its warnings rather than adding more.

    Returns:
        The warnings raised now, and how many notifications were queued.
    """
    from carematch.notifications.outbox import Recipient
    from carematch.notifications.service import enqueue

    judged = [i for i in library.values() if i.kind in ("rate", "mean", "median", "count")]
    ids = [i.id for i in judged]
    if not ids:
        return [], 0
    warned = repository.open_warning_series(session)
    raised: list[IndicatorWarning] = []
    notified = 0
    for key, points in _series(repository.history(session, period.label, ids)).items():
        latest = points[-1]
        if latest.period != period.label or latest.value is None or key in warned:
            continue
        indicator = library[key[0]]
        # A share of units (binomial noise); a rate per 100,000 or a spend ratio is not.
        is_rate = indicator.kind == "rate" and indicator.measure not in NOT_SHARES
        if is_rate and (latest.denominator or 0) < MIN_DENOMINATOR:
            continue
        drop = detect(
            [Point(p.value, p.denominator) for p in points[:-1] if p.value is not None],
            Point(latest.value, latest.denominator),
            higher_is_better=indicator.direction == ">=",
            is_rate=is_rate,
            is_count=indicator.kind == "count",
        )
        if drop is None or repository.warning_at(session, *key[:1], period.label, *key[1:]):
            continue
        warning = IndicatorWarning(
            id=new_id(),
            indicator_id=key[0],
            period=period.label,
            region_code=key[1],
            disaggregation=key[2],
            group_key=key[3],
            value=drop.value,
            baseline=drop.baseline,
            score=round(drop.score, 2),
            status="open",
            detected_on=today,
            created_at=utcnow(),
        )
        session.add(warning)
        session.flush()
        raised.append(warning)
        if not notify:
            continue
        region_name = repository.region_names(session, [key[1]]).get(key[1], (key[1], ""))[0]
        params = {
            "indicator": indicator.name,
            "region": region_name,
            "period": period.label,
            "value": _percent(indicator, drop.value),
            "baseline": _percent(indicator, drop.baseline),
        }
        for user_id in repository.officials_over(session, key[1]):
            result = enqueue(
                session,
                recipient=Recipient.user(user_id),
                channel="inbox",
                template="indicator_warning",
                params=params,
                due_at=utcnow(),
                dedupe_key=f"indicator-warning:{warning.id}:{user_id}",
            )
            notified += int(result.created)
    return raised, notified


# --- reads ----------------------------------------------------------------------------------


def _indicator(library: IndicatorLibrary, indicator_id: str) -> Indicator:
    try:
        return library[indicator_id]
    except KeyError:
        raise IndicatorNotFound(f"no indicator {indicator_id!r}") from None


def _region_for(principal: Principal, region: str | None, session: Session) -> str | None:
    """The region to read: the one asked for (inside the jurisdiction) or the caller's own."""
    if region is None:
        return principal.jurisdiction
    if not principal.can_see(region):
        raise OutsideJurisdiction(f"region {region} is outside your jurisdiction")
    return region


def _check_disaggregation(disaggregation: str) -> None:
    if disaggregation not in DISAGGREGATIONS:
        raise InvalidIndicatorQuery(
            f"disaggregation must be one of {', '.join(DISAGGREGATIONS)}, got {disaggregation!r}"
        )


def _utc(at: datetime) -> datetime:
    # SQLite hands stored times back naive; they are UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def point_view(
    point: IndicatorValue, indicator: Indicator, names: dict[str, tuple[str, str]]
) -> dict[str, Any]:
    """A stored point as the API and the CLI show it (documented in docs/indicators.md)."""
    name, name_en = names.get(point.region_code, ("", ""))
    return {
        "id": point.id,
        "indicator_id": point.indicator_id,
        "name": indicator.name,
        "name_en": indicator.name_en,
        "dimension": indicator.dimension,
        "kind": indicator.kind,
        "period": point.period,
        "region_code": point.region_code,
        "region_name": name,
        "region_name_en": name_en,
        "disaggregation": point.disaggregation,
        "group_key": point.group_key,
        "numerator": point.numerator,
        "denominator": point.denominator,
        "value": point.value,
        "target": point.target,
        "direction": indicator.direction,
        "status": point.status,
        "weights": dict(indicator.weights),
        "computed_at": _utc(point.computed_at).isoformat(),
    }


def latest_values(
    session: Session,
    principal: Principal,
    *,
    region: str | None = None,
    disaggregation: str = "total",
    indicator_id: str | None = None,
    period: str | None = None,
    subregions: bool = False,
    limit: int = 500,
    offset: int = 0,
    library: IndicatorLibrary | None = None,
) -> tuple[str | None, list[dict[str, Any]]]:
    """The latest month's values against their targets, for a region (or all below it).

    Without ``region`` an official reads their own region (admin: the city). With
    ``subregions`` every region inside is returned too (the cockpit's drill-down and map).

    Returns:
        The period read (None when nothing was computed yet) and its points.
    """
    library = library or default_definitions()
    _check_disaggregation(disaggregation)
    if indicator_id is not None:
        _indicator(library, indicator_id)
    if period is not None:
        try:
            Period.month(period)
        except ValueError as exc:
            raise InvalidIndicatorQuery(str(exc)) from None
    scope = _region_for(principal, region, session)
    period = period or repository.latest_period(session)
    if period is None:
        return None, []
    exact = None
    if not subregions:
        exact = scope or repository.city_code(session)
    points = repository.values(
        session,
        period=period,
        indicator_id=indicator_id,
        region_code=exact,
        within=scope if subregions or exact is None else None,
        disaggregation=disaggregation,
        limit=limit,
        offset=offset,
    )
    names = repository.region_names(session, [p.region_code for p in points])
    return period, [
        point_view(p, library[p.indicator_id], names) for p in points if p.indicator_id in library
    ]


def composites(
    items: Iterable[dict[str, Any]], library: IndicatorLibrary | None = None
) -> dict[str, dict[str, dict[str, float | int]]]:
    """Region → policy type → composite score, from the total points of :func:`latest_values`."""
    library = library or default_definitions()
    by_region: dict[str, dict[str, str]] = defaultdict(dict)
    for item in items:
        if item["disaggregation"] == "total":
            by_region[item["region_code"]][item["indicator_id"]] = item["status"]
    return {region: composite_scores(lights, library) for region, lights in by_region.items()}


def series(
    session: Session,
    principal: Principal,
    indicator_id: str,
    *,
    region: str | None = None,
    disaggregation: str = "total",
    group_key: str = "",
    since: str | None = None,
    until: str | None = None,
    library: IndicatorLibrary | None = None,
) -> list[dict[str, Any]]:
    """One series: the indicator's points for a region and breakdown key, oldest first."""
    library = library or default_definitions()
    indicator = _indicator(library, indicator_id)
    _check_disaggregation(disaggregation)
    for label in (since, until):
        if label is not None:
            try:
                Period.month(label)
            except ValueError as exc:
                raise InvalidIndicatorQuery(str(exc)) from None
    code = _region_for(principal, region, session) or repository.city_code(session)
    if code is None:
        return []
    points = repository.values(
        session,
        indicator_id=indicator_id,
        region_code=code,
        disaggregation=disaggregation,
        group_key=group_key,
        periods=(since or "0000-00", until or "9999-99"),
    )
    names = repository.region_names(session, [code])
    return [point_view(p, indicator, names) for p in points]


def warning_view(warning: IndicatorWarning, library: IndicatorLibrary) -> dict[str, Any]:
    """A warning as the API and the CLI show it."""
    indicator = library.get(warning.indicator_id)
    return {
        "id": warning.id,
        "indicator_id": warning.indicator_id,
        "name": indicator.name if indicator else warning.indicator_id,
        "name_en": indicator.name_en if indicator else warning.indicator_id,
        "period": warning.period,
        "region_code": warning.region_code,
        "disaggregation": warning.disaggregation,
        "group_key": warning.group_key,
        "value": warning.value,
        "baseline": warning.baseline,
        "score": warning.score,
        "status": warning.status,
        "finding_id": warning.finding_id,
        "detected_on": warning.detected_on.isoformat(),
        "rectified_by": warning.rectified_by,
    }


def list_warnings(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    indicator_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
    library: IndicatorLibrary | None = None,
) -> list[dict[str, Any]]:
    """Warnings inside the caller's jurisdiction, newest first."""
    library = library or default_definitions()
    if status is not None and status not in WARNING_STATUSES:
        raise InvalidIndicatorQuery(f"status must be one of {', '.join(WARNING_STATUSES)}")
    found = repository.warnings(
        session,
        within=principal.jurisdiction,
        status=status,
        indicator_id=indicator_id,
        limit=limit,
        offset=offset,
    )
    return [warning_view(w, library) for w in found]


def rectify(
    session: Session,
    principal: Principal,
    warning_id: str,
    *,
    measure: str,
    deadline: date,
    department: str,
    category: str = "service_quality",
    library: IndicatorLibrary | None = None,
) -> dict[str, Any]:
    """Turn a warning into a rectification-ledger item (整改台账) owned by a department.

    The finding is an inspection's (督查) whose reference names the warning; the ledger's own
    rules check the measure, the deadline and the jurisdiction.

    Raises:
        WarningNotFound: no such warning in the caller's jurisdiction.
        WarningStateConflict: the warning was already rectified or dismissed.
        InvalidRectification: the ledger refused the item (see the message).
    """
    from carematch.feedback.service import ItemDraft, open_finding

    library = library or default_definitions()
    warning = repository.get_warning(session, warning_id)
    if warning is None or not principal.can_see(warning.region_code):
        raise WarningNotFound(f"no indicator warning {warning_id}")
    if warning.status != "open":
        raise WarningStateConflict(
            f"the warning is {warning.status}, not open", status=warning.status
        )
    view = warning_view(warning, library)
    text = (
        f"{view['name']}（{warning.period}）: {warning.value:.4g}，"
        f"基线 {warning.baseline:.4g}（指标异常预警 {warning.id}）"
    )
    finding, items = open_finding(
        session,
        principal,
        source="inspection",
        text=text,
        items=[
            ItemDraft(
                measure=measure, deadline=deadline, owner_kind="department", department=department
            )
        ],
        inspection_ref=f"indicator-warning:{warning.id}",
        category=category,
        region_code=warning.region_code,
    )
    warning.status = "rectifying"
    warning.finding_id = finding.id
    warning.rectified_by = principal.username
    warning.rectified_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=principal.username,
        action="indicator_warning_rectified",
        entity="indicator_warning",
        entity_id=warning.id,
        detail={"finding_id": finding.id, "items": [i.item.id for i in items]},
    )
    return {**warning_view(warning, library), "items": [i.item.id for i in items]}
