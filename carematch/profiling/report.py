"""The demand white paper (需求白皮书, R-DM-6): main problems, unmet needs, gaps, priority areas.

One HTML page per district and per community of a region, plus an index, for one period.
The figures come from grouped SQL over the demands (never a loop per person); everything
after the queries is plain functions over plain values, tested without a database.

Definitions (also printed in every page's "口径说明 Method" section):

- **Period** (统计期): a month ``YYYY-MM``, a quarter ``YYYY-Qn`` or a year ``YYYY``. A demand
  counts in the period when its life overlaps it: it was raised on or before the last day
  (the earlier of the date it was first seen and the evaluation date it carries) and its tag
  still held on or after the first day (``as_of``, the date of the last profiling evaluation
  on which the tag held). Dates are UTC, like the profiling clock.
- **Status** ("still open", 仍未满足) is the demand's status as recorded now, i.e. after the
  latest profiling run (its date is printed as the report's as-of): a status history is not
  kept, so a past period shows which of its needs are still unmet today.
- **Persons, not rows**: a tag becomes one demand per service that meets it, so every count
  of needs is of distinct persons (a person with two tags of one group counts once there).
- **Capacity in the period** of a service in an area = Σ over active providers serving there
  of ``daily_capacity × days in the period on which it serves there`` (a fixed site: the
  weekdays its opening hours cover; a van: the days of its stops in the area, its daily
  capacity shared among that day's stops). Public holidays are not removed.
- **Gap** = persons with an open demand for the service − capacity in the period;
  **gap ratio** = open ÷ capacity (above 1: the area's own providers could not clear the
  backlog in the period even if they served nobody else); "no provider" when capacity is 0.
- **Priority score** of an area = U × (1 + S): U = persons with an urgent (priority 1)
  demand still open per 1,000 residents profiled; S = the share of the services with open
  demand in the area that are short (no provider there, or open demand above capacity).
  Ties: U, then open needs per 1,000, then the code.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from sqlalchemy import ColumnElement, and_, case, distinct, func, or_, select
from sqlalchemy.orm import Session

from carematch.core.models import Region
from carematch.identity.models import Person
from carematch.profiling.models import Demand, ProfileRun
from carematch.profiling.tags import TagLibrary
from carematch.security.jurisdiction import region_prefix

TOP_TAGS = 10  # tags in the bar chart (the table lists every tag)
URGENT = 1  # the tag library's priority 1: urgent

# The report's own strings, Chinese first with English beside it: a printed white paper is
# read in both languages at once, so it does not follow the web pages' language switch.
LABELS: dict[str, tuple[str, str]] = {
    "title": ("健康服务需求白皮书", "Health service demand white paper"),
    "period": ("统计期", "Period"),
    "status_as_of": ("需求状态截至", "Demand status as of"),
    "no_run": ("尚无画像记录", "no profiling run yet"),
    "area_code": ("区划代码", "Area code"),
    "overview": ("概况", "Overview"),
    "residents": ("建档居民", "Residents profiled"),
    "persons_with_needs": ("有需求人数", "Persons with needs"),
    "persons_open": ("仍有未满足需求人数", "Persons with needs still open"),
    "urgent_open": ("紧急需求未满足人数", "Persons with urgent needs still open"),
    "demands": ("需求条数", "Demands (person × service)"),
    "demands_open": ("未满足需求条数", "Demands still open"),
    "per_1000": ("每千人", "per 1,000"),
    "main_problems": ("主要健康问题", "Main health problems"),
    "top_tags": ("需求标签（按人数）", "Demand tags, by persons"),
    "by_type": ("需求类型与层次", "Demand types and levels"),
    "types_note": (
        "同一人在多个层次均有需求时，各层次分别计入一次。",
        "A person with needs at several levels counts once in each level.",
    ),
    "tag": ("需求标签", "Demand tag"),
    "type": ("需求类型", "Demand type"),
    "level": ("需求层次", "Demand level"),
    "persons": ("人数", "Persons"),
    "still_open": ("仍未满足", "Still open"),
    "share_open": ("未满足比例", "Share still open"),
    "unmet_groups": ("重点人群未满足需求", "Groups with unmet needs"),
    "group": ("人群", "Group"),
    "service_gaps": ("服务缺口", "Service gaps"),
    "service": ("服务", "Service"),
    "needing": ("期内有需求人数", "Persons needing it"),
    "open_demand": ("未满足人数", "Open demand (persons)"),
    "capacity": ("期内服务能力", "Capacity in the period"),
    "gap": ("缺口", "Gap"),
    "gap_ratio": ("缺口比", "Gap ratio"),
    "no_provider": ("本区域无服务机构", "No provider in the area"),
    "short": ("供不应求", "Short"),
    "priority_areas": ("优先区域", "Priority areas"),
    "rank": ("排名", "Rank"),
    "area": ("区域", "Area"),
    "score": ("优先指数", "Priority score"),
    "urgent_rate": ("紧急未满足每千人", "Urgent open per 1,000"),
    "short_share": ("短缺服务占比", "Share of services short"),
    "rank_in_district": ("在本区社区中的排名", "Rank among the district's communities"),
    "districts": ("区（县）", "Districts"),
    "communities": ("社区（村）", "Communities"),
    "method": ("口径说明", "Method"),
    "no_data": ("本期暂无数据", "No data for this period"),
    "no_data_hint": (
        "该区域在统计期内没有建档居民或需求记录。",
        "No residents profiled or demands recorded in this area for the period.",
    ),
    "none_in_section": ("本期无记录", "None in this period"),
    "index": ("总览", "Overview of all areas"),
    "back_to_index": ("返回总览", "Back to the overview"),
    "back_to_district": ("返回所属区", "Back to the district"),
    "chart_note": (
        "图表需浏览器启用脚本；表格列出全部数值。",
        "Charts need JavaScript; the tables give every figure.",
    ),
    "all_areas": ("全部地区", "All areas"),
    "licences": ("第三方许可", "Third-party licences"),
    "echarts_credit": (
        "图表由 Apache ECharts 绘制（Apache License 2.0）。",
        "Charts drawn by Apache ECharts (Apache License 2.0).",
    ),
}

METHOD: tuple[tuple[str, str], ...] = (
    (
        "统计期内的需求：在期末或之前提出（首次发现日期与评估日期取早者），且在期初或之后仍成立"
        "（最近一次标签成立的评估日期）。日期按 UTC 计。",
        "A demand counts in the period when it was raised on or before its last day (the "
        "earlier of the date first seen and its evaluation date) and its tag still held on or "
        "after its first day (the last evaluation on which it held). Dates are UTC.",
    ),
    (
        "“仍未满足”指需求当前记录的状态（见报告顶部的截至日期）；系统不保存状态历史。",
        "“Still open” is the demand's status as recorded now (see the as-of date at the top); "
        "no status history is kept.",
    ),
    (
        "人数按人去重：一个标签按满足它的每项服务各生成一条需求，统计时同一人只计一次。",
        "Counts are of distinct persons: a tag raises one demand per service that meets it, "
        "and a person counts once.",
    ),
    (
        "期内服务能力 = Σ（区域内在岗机构的日服务能力 × 统计期内该机构在本区域服务的天数）；"
        "固定机构按其营业时间覆盖的星期计，流动服务车按停靠日计（同日多站平分）；未扣除法定节假日。",
        "Capacity in the period = Σ over active providers serving in the area of daily "
        "capacity × days in the period on which they serve there (fixed sites: the weekdays "
        "their hours cover; vans: their stop days, a day's capacity shared among its stops). "
        "Public holidays are not removed.",
    ),
    (
        "缺口 = 未满足人数 − 期内服务能力；缺口比 = 未满足人数 ÷ 期内服务能力，大于 1 表示本区域"
        "机构在期内即使只服务这些人也无法满足；能力为 0 时标注“本区域无服务机构”。",
        "Gap = open demand − capacity in the period; gap ratio = open demand ÷ capacity (above "
        "1: the area's own providers could not clear it in the period even serving nobody "
        "else); “no provider in the area” when capacity is 0.",
    ),
    (
        "优先指数 = U × (1 + S)：U 为每千名建档居民中紧急（优先级 1）需求仍未满足的人数，S 为本"
        "区域有未满足需求的服务中供不应求（无机构或未满足人数超过能力）的比例；"
        "并列时依次比较 U、每千人未满足人数、区划代码。",
        "Priority score = U × (1 + S): U = persons with an urgent (priority 1) demand still "
        "open per 1,000 residents profiled; S = the share of the services with open demand "
        "in the area that are short (no provider, or open demand above capacity). Ties: U, "
        "then open needs per 1,000, then the area code.",
    ),
)

_PERIOD = re.compile(r"^(\d{4})(?:-(?:(0[1-9]|1[0-2])|[Qq]([1-4])))?$")


class PeriodError(ValueError):
    """A period that is not ``YYYY-MM``, ``YYYY-Qn`` or ``YYYY``."""


class UnknownRegion(LookupError):
    """The region asked for is not in the region tree."""


# --------------------------------------------------------------------------- the period


@dataclass(frozen=True)
class Period:
    """The reporting period (统计期): a month, a quarter or a year, both ends inclusive."""

    label: str
    start: date
    end: date

    @property
    def end_boundary(self) -> datetime:
        """The first instant after the period (UTC), for comparing timestamps."""
        return datetime.combine(self.end + timedelta(days=1), datetime.min.time(), UTC)


def parse_period(text: str) -> Period:
    """``2026-05`` → May 2026; ``2026-Q2`` → April–June; ``2026`` → the year.

    Raises:
        PeriodError: anything else (the message says what is accepted).
    """
    match = _PERIOD.match(text.strip())
    if not match or not 1900 <= int(match.group(1)) <= 9998:
        raise PeriodError(
            f"{text!r} is not a period: use YYYY-MM, YYYY-Qn or YYYY (e.g. 2026-05, 2026-Q2, 2026)"
        )
    year = int(match.group(1))
    if match.group(2):
        month = int(match.group(2))
        start, months, label = date(year, month, 1), 1, f"{year}-{month:02d}"
    elif match.group(3):
        quarter = int(match.group(3))
        start, months, label = date(year, 3 * quarter - 2, 1), 3, f"{year}-Q{quarter}"
    else:
        start, months, label = date(year, 1, 1), 12, f"{year}"
    following = start.month - 1 + months
    after = date(start.year + following // 12, following % 12 + 1, 1)
    return Period(label, start, after - timedelta(days=1))


def weekday_counts(start: date, end: date) -> dict[int, int]:
    """How many Mondays (1) … Sundays (7) fall between two dates, both inclusive."""
    days = (end - start).days + 1
    weeks, rest = divmod(max(days, 0), 7)
    counts = dict.fromkeys(range(1, 8), weeks)
    for offset in range(rest):
        counts[(start + timedelta(days=offset)).isoweekday()] += 1
    return counts


# --------------------------------------------------------------------------- the figures


@dataclass(frozen=True)
class Tally:
    """Persons with a kind of need in the period, and how many of them still have it open."""

    persons: int = 0
    open: int = 0


@dataclass
class AreaFigures:
    """What the queries counted for one area (plain values; the pages derive the rest)."""

    code: str
    residents: int = 0
    needs: Tally = Tally()
    urgent_open: int = 0
    demands: int = 0
    demands_open: int = 0
    tags: dict[str, Tally] = field(default_factory=dict)
    types: dict[str, Tally] = field(default_factory=dict)
    levels: dict[str, Tally] = field(default_factory=dict)
    type_levels: dict[tuple[str, str], int] = field(default_factory=dict)
    groups: dict[str, Tally] = field(default_factory=dict)
    services: dict[str, Tally] = field(default_factory=dict)
    capacity: dict[str, float] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        """No resident profiled and no demand in the period: nothing to report."""
        return self.residents == 0 and self.needs.persons == 0


def per_thousand(count: int, residents: int) -> float | None:
    """A count per 1,000 residents; None when the area has no resident profiled."""
    return 1000.0 * count / residents if residents else None


def share(part: int, whole: int) -> float | None:
    """``part / whole``; None when the whole is 0."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Gap:
    """One service's demand against the area's capacity over the period (服务缺口)."""

    service: str
    persons: int
    open: int
    capacity: float

    @property
    def gap(self) -> float:
        """Open demand minus capacity; positive is a shortfall."""
        return self.open - self.capacity

    @property
    def ratio(self) -> float | None:
        """Open demand ÷ capacity; None when there is no capacity (no provider)."""
        return self.open / self.capacity if self.capacity > 0 else None

    @property
    def no_provider(self) -> bool:
        """Demand in the period but no provider serving it in the area."""
        return self.capacity <= 0

    @property
    def short(self) -> bool:
        """Open demand the area's own providers cannot meet in the period."""
        return self.open > 0 and (self.no_provider or self.open > self.capacity)


def service_gaps(services: Mapping[str, Tally], capacity: Mapping[str, float]) -> list[Gap]:
    """Every service needed in the period, worst first.

    Order: services with no provider (most open first), then by gap ratio, open demand and
    code, so that the page and the chart read from the most pressing down.
    """
    gaps = [
        Gap(code, t.persons, t.open, float(capacity.get(code, 0.0)))
        for code, t in services.items()
        if t.persons > 0
    ]
    return sorted(
        gaps,
        key=lambda g: (not g.no_provider, -(g.ratio or 0.0), -g.open, g.service),
    )


@dataclass(frozen=True)
class Priority:
    """An area's priority score and its two parts (see the module docstring)."""

    code: str
    urgent_rate: float
    short_share: float
    open_rate: float

    @property
    def score(self) -> float:
        return self.urgent_rate * (1.0 + self.short_share)


def priority(figures: AreaFigures, gaps: Sequence[Gap]) -> Priority:
    """The priority score of one area from its figures and its service gaps."""
    demanded = [g for g in gaps if g.open > 0]
    short = sum(1 for g in demanded if g.short)
    return Priority(
        code=figures.code,
        urgent_rate=per_thousand(figures.urgent_open, figures.residents) or 0.0,
        short_share=short / len(demanded) if demanded else 0.0,
        open_rate=per_thousand(figures.needs.open, figures.residents) or 0.0,
    )


def rank(priorities: Iterable[Priority]) -> list[Priority]:
    """Areas from the highest priority down (ties: urgent rate, open rate, code)."""
    return sorted(priorities, key=lambda p: (-p.score, -p.urgent_rate, -p.open_rate, p.code))


def capacity_in_period(
    rows: Iterable[tuple[str, str, int, float]],
    area_of: Callable[[str], str | None],
    days: Mapping[int, int],
) -> dict[str, dict[str, float]]:
    """Capacity per area and service over a period, from per-weekday capacity by region.

    Args:
        rows: ``(region code, service, weekday, daily capacity)``.
        area_of: the reported area a region code belongs to (None: not reported).
        days: how many of each weekday the period holds (:func:`weekday_counts`).
    """
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for region, service, weekday, capacity in rows:
        area = area_of(region)
        if area is not None:
            out[area][service] += capacity * days.get(weekday, 0)
    return {area: dict(services) for area, services in out.items()}


# --------------------------------------------------------------------------- the queries


def _in_period(period: Period) -> ColumnElement[bool]:
    return and_(
        Demand.as_of >= period.start,
        or_(Demand.as_of <= period.end, Demand.first_seen_at < period.end_boundary),
    )


def _in_region(column: Any, prefix: str | None) -> ColumnElement[bool]:
    if prefix:
        return column.like(prefix + "%")
    return column.is_not(None)


def _tally_columns(condition: ColumnElement[bool] | None = None) -> list[Any]:
    """count(distinct person), count(distinct person with it open) under a condition."""
    is_open = Demand.status == "open"
    if condition is None:
        return [
            func.count(distinct(Demand.person_id)),
            func.count(distinct(case((is_open, Demand.person_id)))),
        ]
    return [
        func.count(distinct(case((condition, Demand.person_id)))),
        func.count(distinct(case((and_(condition, is_open), Demand.person_id)))),
    ]


def _grouped(
    session: Session,
    key: Any | None,
    keys: Sequence[Any],
    values: Sequence[Any],
    where: Sequence[ColumnElement[bool]],
    whole: str,
) -> list[tuple[Any, ...]]:
    """Rows ``(area, *keys, *values)``; the area is ``whole`` when there is no area key."""
    columns = ([key] if key is not None else []) + list(keys) + list(values)
    stmt = select(*columns).where(*where)
    groups = ([key] if key is not None else []) + list(keys)
    if groups:
        stmt = stmt.group_by(*groups)
    rows = [tuple(r) for r in session.execute(stmt)]
    if key is None:
        return [(whole, *r) for r in rows]
    return [r for r in rows if r[0] is not None]


def collect_figures(
    session: Session,
    period: Period,
    library: TagLibrary,
    *,
    within: str | None,
    key_length: int | None,
    whole: str = "",
) -> dict[str, AreaFigures]:
    """Count everything the pages show, per area, with one grouped query per section.

    Args:
        within: the report's region (None: everywhere); only demands and residents inside.
        key_length: 6 for districts, 12 for communities, None for the whole region (whose
            figures are filed under ``whole``).
    """
    prefix = region_prefix(within) if within else None

    def area(column: Any) -> Any | None:
        return func.substr(column, 1, key_length) if key_length else None

    demand_area = area(Demand.community_code)
    where = [_in_period(period), _in_region(Demand.community_code, prefix)]
    figures: dict[str, AreaFigures] = {}

    def of(code: str) -> AreaFigures:
        return figures.setdefault(code, AreaFigures(code))

    person_where = [Person.record_count > 0, _in_region(Person.community_code, prefix)]
    for code, residents in _grouped(
        session, area(Person.community_code), [], [func.count()], person_where, whole
    ):
        of(code).residents = int(residents)

    urgent_open = and_(Demand.status == "open", Demand.priority == URGENT)
    totals = [
        *_tally_columns(),
        func.count(distinct(case((urgent_open, Demand.person_id)))),
        func.count(),
        func.sum(case((Demand.status == "open", 1), else_=0)),
    ]
    for code, persons, still, urgent, demands, demands_open in _grouped(
        session, demand_area, [], totals, where, whole
    ):
        f = of(code)
        f.needs = Tally(int(persons), int(still))
        f.urgent_open = int(urgent)
        f.demands, f.demands_open = int(demands), int(demands_open or 0)

    for column, attribute in (
        (Demand.tag, "tags"),
        (Demand.demand_type, "types"),
        (Demand.level, "levels"),
        (Demand.service, "services"),
    ):
        for code, value, persons, still in _grouped(
            session, demand_area, [column], _tally_columns(), where, whole
        ):
            getattr(of(code), attribute)[value] = Tally(int(persons), int(still))

    for code, demand_type, level, persons in _grouped(
        session,
        demand_area,
        [Demand.demand_type, Demand.level],
        [func.count(distinct(Demand.person_id))],
        where,
        whole,
    ):
        of(code).type_levels[(demand_type, level)] = int(persons)

    # Groups come from the tag library, not the table: one pair of counts per group, each
    # over the tags of that group, so a person in several of a group's tags counts once.
    members: dict[str, list[str]] = {g: [] for g in library.groups}
    for tag in library.tags.values():
        for group in tag.groups:
            members.setdefault(group, []).append(tag.id)
    named = [g for g in members if members[g]]
    if named:
        columns = [c for g in named for c in _tally_columns(Demand.tag.in_(sorted(members[g])))]
        for row in _grouped(session, demand_area, [], columns, where, whole):
            f = of(row[0])
            for i, group in enumerate(named):
                persons, still = int(row[1 + 2 * i]), int(row[2 + 2 * i])
                if persons:
                    f.groups[group] = Tally(persons, still)
    return figures


def status_as_of(session: Session) -> date | None:
    """The evaluation date of the latest finished profiling run (the statuses' as-of)."""
    return session.scalar(
        select(func.max(ProfileRun.as_of)).where(ProfileRun.finished_at.is_not(None))
    )


@dataclass(frozen=True)
class Place:
    """A region the report names: code, names and parent (from the region tree)."""

    code: str
    name: str
    name_en: str
    level: str
    parent_code: str | None


def regions_within(session: Session, within: str | None) -> dict[str, Place]:
    """Every region inside ``within`` (None: all), and ``within`` itself, by code."""
    stmt = select(Region.code, Region.name, Region.name_en, Region.level, Region.parent_code)
    if within:
        stmt = stmt.where(or_(Region.code.like(region_prefix(within) + "%"), Region.code == within))
    return {
        code: Place(code, name, name_en or "", level, parent)
        for code, name, name_en, level, parent in session.execute(stmt.order_by(Region.code))
    }


# --------------------------------------------------------------------------- the pages


def label(key: str) -> str:
    """A report label as printed: Chinese, then English."""
    zh, en = LABELS[key]
    return f"{zh} {en}"


def _fmt_int(value: float) -> str:
    return f"{round(value):,}"


def _fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _fmt_share(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _fmt_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.01" if 0 < value < 0.005 else f"{value:.2f}"


@dataclass(frozen=True)
class Names:
    """Chinese and English names of the taxonomy, services and regions used on the pages."""

    tags: dict[str, tuple[str, str]]
    types: dict[str, tuple[str, str]]
    levels: dict[str, tuple[str, str]]
    groups: dict[str, tuple[str, str]]
    services: dict[str, tuple[str, str]]

    @classmethod
    def of(cls, library: TagLibrary, services: Mapping[str, tuple[str, str]]) -> Names:
        def pairs(section: Mapping[str, Mapping[str, str]]) -> dict[str, tuple[str, str]]:
            return {k: (v.get("zh", k), v.get("en", k)) for k, v in section.items()}

        return cls(
            tags={t.id: (t.label_zh, t.label_en) for t in library.tags.values()},
            types=pairs(library.types),
            levels=pairs(library.levels),
            groups=pairs(library.groups),
            services=dict(services),
        )


def _name(table: Mapping[str, tuple[str, str]], code: str) -> dict[str, str]:
    zh, en = table.get(code, (code, code))
    return {"code": code, "zh": zh, "en": en}


def _bar_option(categories: list[str], series: list[dict[str, Any]], **extra: Any) -> dict:
    option: dict[str, Any] = {
        "animation": False,
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {"top": 0},
        "grid": {"left": 8, "right": 24, "top": 32, "bottom": 8, "containLabel": True},
        "yAxis": {"type": "category", "data": categories, "inverse": True},
        "xAxis": {"type": "value"},
        "series": series,
    }
    option.update(extra)
    return option


def area_page(
    figures: AreaFigures,
    names: Names,
    library: TagLibrary,
    place: Place | None,
    priority_of: Priority,
) -> dict[str, Any]:
    """Everything one area's page shows, as plain values (the template only lays it out)."""
    residents = figures.residents
    tags = sorted(figures.tags.items(), key=lambda kv: (-kv[1].persons, kv[0]))
    problem_rows = [
        {
            "tag": _name(names.tags, code),
            "type": _name(names.types, library.tags[code].type if code in library.tags else ""),
            "persons": t.persons,
            "rate": _fmt_rate(per_thousand(t.persons, residents)),
            "open": t.open,
            "share_open": _fmt_share(share(t.open, t.persons)),
        }
        for code, t in tags
    ]
    type_codes = [c for c in names.types if c in figures.types] + sorted(
        set(figures.types) - set(names.types)
    )
    level_codes = [c for c in names.levels if c in figures.levels] + sorted(
        set(figures.levels) - set(names.levels)
    )
    type_rows = [
        {
            "type": _name(names.types, code),
            "persons": figures.types[code].persons,
            "rate": _fmt_rate(per_thousand(figures.types[code].persons, residents)),
            "open": figures.types[code].open,
            "levels": [figures.type_levels.get((code, lv), 0) for lv in level_codes],
        }
        for code in type_codes
    ]
    level_rows = [
        {
            "level": _name(names.levels, code),
            "persons": figures.levels[code].persons,
            "rate": _fmt_rate(per_thousand(figures.levels[code].persons, residents)),
            "open": figures.levels[code].open,
        }
        for code in level_codes
    ]
    groups = sorted(figures.groups.items(), key=lambda kv: (-kv[1].open, -kv[1].persons, kv[0]))
    group_rows = [
        {
            "group": _name(names.groups, code),
            "persons": t.persons,
            "open": t.open,
            "share_open": _fmt_share(share(t.open, t.persons)),
            "open_rate": _fmt_rate(per_thousand(t.open, residents)),
        }
        for code, t in groups
    ]
    gaps = service_gaps(figures.services, figures.capacity)
    gap_rows = [
        {
            "service": _name(names.services, g.service),
            "persons": g.persons,
            "open": g.open,
            "capacity": _fmt_int(g.capacity),
            "gap": _fmt_int(g.gap),
            "ratio": _fmt_ratio(g.ratio),
            "no_provider": g.no_provider,
            "short": g.short,
        }
        for g in gaps
    ]
    top = tags[:TOP_TAGS]
    charts = {
        "tags": chart(
            "chart-tags",
            _bar_option(
                [names.tags.get(c, (c, c))[0] for c, _ in top],
                [
                    {"name": "人数 Persons", "type": "bar", "data": [t.persons for _, t in top]},
                    {
                        "name": "仍未满足 Still open",
                        "type": "bar",
                        "data": [t.open for _, t in top],
                    },
                ],
            ),
            len(top),
        ),
        "types": chart(
            "chart-types",
            _bar_option(
                [names.types.get(c, (c, c))[0] for c in type_codes],
                [
                    {
                        "name": names.levels.get(lv, (lv, lv))[0],
                        "type": "bar",
                        "stack": "levels",
                        "data": [figures.type_levels.get((c, lv), 0) for c in type_codes],
                    }
                    for lv in level_codes
                ],
            ),
            len(type_codes),
        ),
        "gaps": chart(
            "chart-gaps",
            _bar_option(
                [names.services.get(g.service, (g.service, g.service))[0] for g in gaps],
                [
                    {
                        "name": "未满足人数 Open demand",
                        "type": "bar",
                        "data": [g.open or None for g in gaps],
                    },
                    {
                        "name": "期内服务能力 Capacity",
                        "type": "bar",
                        "data": [round(g.capacity) or None for g in gaps],
                    },
                ],
                # A quarter's capacity dwarfs a community's open demand: a log axis keeps both
                # readable; the table beside gives the exact figures.
                xAxis={"type": "log", "logBase": 10, "min": 1},
            ),
            len(gaps),
        ),
    }
    return {
        "code": figures.code,
        "place": place,
        "empty": figures.empty,
        "residents": residents,
        "overview": [
            ("residents", _fmt_int(residents), None),
            (
                "persons_with_needs",
                _fmt_int(figures.needs.persons),
                _fmt_rate(per_thousand(figures.needs.persons, residents)),
            ),
            (
                "persons_open",
                _fmt_int(figures.needs.open),
                _fmt_rate(per_thousand(figures.needs.open, residents)),
            ),
            (
                "urgent_open",
                _fmt_int(figures.urgent_open),
                _fmt_rate(per_thousand(figures.urgent_open, residents)),
            ),
            ("demands", _fmt_int(figures.demands), None),
            ("demands_open", _fmt_int(figures.demands_open), None),
        ],
        "problems": problem_rows,
        "types": type_rows,
        "levels": level_rows,
        "level_names": [_name(names.levels, c) for c in level_codes],
        "groups": group_rows,
        "gaps": gap_rows,
        "priority": _priority_row(priority_of, None, figures),
        "charts": charts,
    }


def _priority_row(p: Priority, place: Place | None, figures: AreaFigures | None) -> dict:
    return {
        "code": p.code,
        "place": place,
        "score": f"{p.score:.2f}",
        "urgent_rate": f"{p.urgent_rate:.1f}",
        "short_share": _fmt_share(p.short_share),
        "open_rate": f"{p.open_rate:.1f}",
        "residents": figures.residents if figures else 0,
    }


def ranking_rows(
    ranked: Sequence[Priority],
    places: Mapping[str, Place],
    figures: Mapping[str, AreaFigures],
) -> list[dict[str, Any]]:
    """The priority table: rank, area, score and its parts, best-first."""
    return [
        {"rank": i, **_priority_row(p, places.get(p.code), figures.get(p.code))}
        for i, p in enumerate(ranked, start=1)
    ]


def ranking_chart(chart_id: str, rows: Sequence[Mapping[str, Any]], limit: int = 15) -> dict:
    """Horizontal bars of the top areas' priority scores."""
    top = list(rows[:limit])
    option = _bar_option(
        [r["place"].name if r["place"] else r["code"] for r in top],
        [
            {
                "name": "优先指数 Priority score",
                "type": "bar",
                "data": [float(r["score"]) for r in top],
            }
        ],
    )
    return chart(chart_id, option, len(top))


def chart(chart_id: str, option: Mapping[str, Any], categories: int) -> dict[str, Any]:
    """A chart for the template: its element id, option JSON and a height that fits the bars."""
    return {
        "id": chart_id,
        "json": chart_json(option),
        "height": 60 + 28 * max(categories, 1),
        "empty": categories == 0,
    }


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Vendor:
    """The ECharts script and the notices that must travel with it (Apache License 2.0)."""

    script: str
    license: str
    notice: str


def echarts_vendor() -> Vendor:
    """The bundled ECharts build of the web app, with its LICENSE and NOTICE."""
    folder = resources.files("carematch.web").joinpath("static", "vendor", "echarts")
    script = folder.joinpath("echarts.min.js").read_text("utf-8")
    # Inlined into a <script> element, the text must not close it early.
    if "</script" in script.lower():
        raise ValueError("echarts.min.js contains '</script'; it cannot be inlined")
    return Vendor(
        script=script,
        license=folder.joinpath("LICENSE").read_text("utf-8"),
        notice=folder.joinpath("NOTICE").read_text("utf-8"),
    )


def environment() -> Environment:
    """The report's Jinja environment (autoescaped; an unknown name is an error)."""
    env = Environment(
        loader=PackageLoader("carematch.profiling", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["label"] = label
    env.globals["LABELS"] = LABELS
    env.globals["METHOD"] = METHOD
    return env


def chart_json(option: Mapping[str, Any]) -> str:
    """An ECharts option as JSON safe inside a <script type="application/json"> element."""
    text = json.dumps(option, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# --------------------------------------------------------------------------- the white paper

ECHARTS_FILE = "echarts.min.js"
DISTRICT_LEN, COMMUNITY_LEN = 6, 12


def district_file(code: str) -> str:
    return f"district-{code}.html"


def community_file(code: str) -> str:
    return f"community-{code}.html"


@dataclass
class ReportSummary:
    """What one white paper run wrote (printed as JSON by the CLI)."""

    period: str
    start: str
    end: str
    region: str | None
    status_as_of: str | None
    out: str
    files: list[str]
    districts: int
    communities: int
    residents: int
    persons_with_needs: int
    # The shared ECharts script with its licence and notice (empty when inlined).
    assets: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "start": self.start,
            "end": self.end,
            "region": self.region,
            "status_as_of": self.status_as_of,
            "out": self.out,
            "files": self.files,
            "districts": self.districts,
            "communities": self.communities,
            "residents": self.residents,
            "persons_with_needs": self.persons_with_needs,
            "assets": self.assets,
        }


def _areas(
    level: str, length: int, places: Mapping[str, Place], counted: Iterable[str], prefix: str
) -> list[str]:
    """Areas of one level inside the region, by code.

    Those in the region tree, and any the demands or residents name that the tree lacks
    (shown by code rather than dropped from the totals).
    """
    known = {c for c, p in places.items() if p.level == level and c.startswith(prefix)}
    extra = {c for c in counted if len(c) == length and c.startswith(prefix)}
    return sorted(known | extra)


def write_demand_report(
    session: Session,
    period: Period,
    out: Path,
    *,
    within: str | None = None,
    library: TagLibrary | None = None,
    shared_script: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ReportSummary:
    """Write the white paper for a period: index.html plus one page per district and community.

    Args:
        within: a region code (city, district, street or community); None: every region.
        shared_script: write ECharts once as ``echarts.min.js`` beside the pages instead of
            inlining it into each (a page is then no longer a single self-contained file).
        progress: called with a short line per step (the CLI prints it on stderr).

    Raises:
        UnknownRegion: ``within`` is not in the region tree.
    """
    from carematch.profiling.tags import default_library
    from carematch.providers.catalogue import service_catalogue
    from carematch.providers.service import capacity_by_region

    def step(text: str) -> None:
        if progress:
            progress(text)

    library = library or default_library()
    places = regions_within(session, within)
    if within and within not in places:
        raise UnknownRegion(f"no region {within!r} in the region tree")
    prefix = region_prefix(within) if within else ""
    names = Names.of(
        library, {code: (s.name, s.name_en) for code, s in service_catalogue().items()}
    )
    as_of = status_as_of(session)

    step("counting demands")
    whole = within or ""
    by_level = {
        None: collect_figures(
            session, period, library, within=within, key_length=None, whole=whole
        ),
        DISTRICT_LEN: collect_figures(
            session, period, library, within=within, key_length=DISTRICT_LEN
        ),
        COMMUNITY_LEN: collect_figures(
            session, period, library, within=within, key_length=COMMUNITY_LEN
        ),
    }
    district_codes = _areas("district", DISTRICT_LEN, places, by_level[DISTRICT_LEN], prefix)
    community_codes = _areas("community", COMMUNITY_LEN, places, by_level[COMMUNITY_LEN], prefix)

    step("reading capacity")
    days = weekday_counts(period.start, period.end)
    capacity_rows = [
        (c.region_code, c.service, c.weekday, c.capacity)
        for c in capacity_by_region(session, within)
    ]
    area_of: dict[int | None, Callable[[str], str | None]] = {
        None: lambda region: whole,
        DISTRICT_LEN: lambda region: region[:DISTRICT_LEN] if len(region) >= DISTRICT_LEN else None,
        COMMUNITY_LEN: lambda region: region if len(region) == COMMUNITY_LEN else None,
    }
    wanted = {None: [whole], DISTRICT_LEN: district_codes, COMMUNITY_LEN: community_codes}
    for length, codes in wanted.items():
        capacity = capacity_in_period(capacity_rows, area_of[length], days)
        for code in codes:
            f = by_level[length].setdefault(code, AreaFigures(code))
            f.capacity = capacity.get(code, {})

    priorities: dict[str, Priority] = {}
    pages: dict[str, dict[str, Any]] = {}
    for length, codes in wanted.items():
        for code in codes:
            f = by_level[length][code]
            p = priority(f, service_gaps(f.services, f.capacity))
            key = code if length else "\0index"
            priorities[key] = p
            pages[key] = area_page(f, names, library, places.get(code), p)

    ranked_communities = rank(priorities[c] for c in community_codes)
    ranked_districts = rank(priorities[c] for c in district_codes)
    figures_by_code = {**by_level[DISTRICT_LEN], **by_level[COMMUNITY_LEN]}

    out.mkdir(parents=True, exist_ok=True)
    vendor = echarts_vendor()
    shared_files: list[str] = []
    if shared_script:
        for name, text in (
            (ECHARTS_FILE, vendor.script),
            ("ECHARTS-LICENSE.txt", vendor.license),
            ("ECHARTS-NOTICE.txt", vendor.notice),
        ):
            (out / name).write_text(text, "utf-8")
            shared_files.append(name)
    env = environment()
    template = env.get_template("demand.html")
    as_of_text = as_of.isoformat() if as_of else None
    common = {
        "period": period,
        "status_as_of": as_of_text,
        "vendor": vendor,
        "shared_script": ECHARTS_FILE if shared_script else None,
    }
    files: list[str] = []

    def write(name: str, **context: Any) -> None:
        (out / name).write_text(template.render(**common, **context), "utf-8")
        files.append(name)

    region_place = places.get(within) if within else _city(places)
    index_page = pages["\0index"]
    community_rows = ranking_rows(ranked_communities, places, figures_by_code)
    district_rows = ranking_rows(ranked_districts, places, figures_by_code)
    step(f"writing index.html, {len(district_codes)} districts, {len(community_codes)} communities")
    write(
        "index.html",
        page=index_page,
        kind="index",
        heading=region_place,
        crumbs=[],
        district_rows=_linked(district_rows, district_file),
        community_rows=_linked(community_rows, community_file),
        ranking_charts=[
            ranking_chart("chart-rank-districts", district_rows),
            ranking_chart("chart-rank-communities", community_rows),
        ],
        rank_note=None,
    )
    for i, code in enumerate(district_codes, start=1):
        step(f"district {i}/{len(district_codes)} {code}")
        own = [r for r in community_rows if r["code"].startswith(code)]
        own = [{**r, "rank": n} for n, r in enumerate(own, start=1)]
        write(
            district_file(code),
            page=pages[code],
            kind="district",
            heading=places.get(code),
            crumbs=[("index.html", "back_to_index")],
            district_rows=[],
            community_rows=_linked(own, community_file),
            ranking_charts=[ranking_chart("chart-rank-communities", own)],
            rank_note=None,
        )
    for i, code in enumerate(community_codes, start=1):
        if i % 50 == 1:
            step(f"community {i}/{len(community_codes)} {code}")
        district = code[:DISTRICT_LEN]
        siblings = [r for r in community_rows if r["code"].startswith(district)]
        position = next(n for n, r in enumerate(siblings, start=1) if r["code"] == code)
        crumbs = [("index.html", "back_to_index")]
        if district in district_codes:
            crumbs.append((district_file(district), "back_to_district"))
        write(
            community_file(code),
            page=pages[code],
            kind="community",
            heading=places.get(code),
            crumbs=crumbs,
            district_rows=[],
            community_rows=[],
            ranking_charts=[],
            rank_note=(position, len(siblings)),
        )
    totals = by_level[None][whole]
    return ReportSummary(
        period=period.label,
        start=period.start.isoformat(),
        end=period.end.isoformat(),
        region=within,
        status_as_of=as_of_text,
        out=str(out),
        files=files,
        districts=len(district_codes),
        communities=len(community_codes),
        residents=totals.residents,
        persons_with_needs=totals.needs.persons,
        assets=shared_files,
    )


def _city(places: Mapping[str, Place]) -> Place | None:
    """The one city (or province) of the region tree, naming the index; None if not one."""
    for level in ("city", "province"):
        found = [p for p in places.values() if p.level == level]
        if len(found) == 1:
            return found[0]
    return None


def _linked(rows: Sequence[dict[str, Any]], file_of: Callable[[str], str]) -> list[dict[str, Any]]:
    return [{**r, "href": file_of(r["code"])} for r in rows]
