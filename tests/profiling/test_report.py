"""The demand white paper (需求白皮书, R-DM-6), on SQLite and PostgreSQL.

A constructed world — two districts, four communities (one missing from the region tree),
known residents, demands and provider capacity — whose every figure is counted again here by
plain loops over the same specifications, and compared with what the pages print.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.core.models import Region
from carematch.identity.models import Person
from carematch.profiling.models import Demand, ProfileRun
from carematch.profiling.report import (
    AreaFigures,
    Gap,
    PeriodError,
    Tally,
    UnknownRegion,
    capacity_in_period,
    parse_period,
    priority,
    rank,
    service_gaps,
    weekday_counts,
    write_demand_report,
)
from carematch.profiling.tags import default_library
from carematch.providers.models import Provider, ProviderHours, ProviderService, VanStop

runner = CliRunner()
PERIOD = parse_period("2026-Q2")  # 2026-04-01 … 2026-06-30
D1, D2 = "449901", "449902"
A, B = "449901001001", "449901001002"  # district 1, street 449901001
C = "449902001001"  # district 2
X = "449902001009"  # district 2, a community the region tree does not know
IN = (date(2026, 5, 15), datetime(2026, 4, 10, 8, 0, tzinfo=UTC))  # (as_of, first seen)


# --------------------------------------------------------------------------- pure parts


def test_periods_cover_months_quarters_and_years():
    assert (parse_period("2026-02").start, parse_period("2026-02").end) == (
        date(2026, 2, 1),
        date(2026, 2, 28),
    )
    assert parse_period("2024-02").end == date(2024, 2, 29)
    q4 = parse_period("2026-q4")
    assert (q4.label, q4.start, q4.end) == ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))
    year = parse_period("2025")
    assert (year.start, year.end) == (date(2025, 1, 1), date(2025, 12, 31))
    assert PERIOD.end_boundary == datetime(2026, 7, 1, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "2026-13", "2026-00", "2026-Q5", "2026-Q0", "26-01", "2026-1"])
def test_a_bad_period_is_refused_with_the_accepted_forms(bad):
    with pytest.raises(PeriodError, match="YYYY-MM, YYYY-Qn or YYYY"):
        parse_period(bad)


@pytest.mark.parametrize("label", ["2026-01", "2026-02", "2024-02", "2026-Q1", "2026-Q3", "2024"])
def test_weekday_counts_equal_a_day_by_day_count(label):
    period = parse_period(label)
    expected = dict.fromkeys(range(1, 8), 0)
    day = period.start
    while day <= period.end:
        expected[day.isoweekday()] += 1
        day += timedelta(days=1)
    assert weekday_counts(period.start, period.end) == expected


def test_capacity_gaps_and_scores_from_plain_values():
    days = weekday_counts(PERIOD.start, PERIOD.end)
    rows = [(A, "s1", 1, 10.0), (A, "s1", 3, 10.0), ("449901001", "s1", 6, 5.0), (B, "s2", 2, 4.0)]
    by_community = capacity_in_period(rows, lambda r: r if len(r) == 12 else None, days)
    assert by_community == {A: {"s1": 20.0 * 13}, B: {"s2": 4.0 * 13}}
    by_district = capacity_in_period(rows, lambda r: r[:6], days)
    assert by_district == {D1: {"s1": 25.0 * 13, "s2": 4.0 * 13}}

    gaps = service_gaps(
        {"s1": Tally(5, 3), "s2": Tally(2, 2), "s3": Tally(1, 0), "s4": Tally(0, 0)},
        {"s1": 2.0, "s2": 0.0},
    )
    assert [g.service for g in gaps] == ["s2", "s3", "s1"]  # no provider first, then by ratio
    assert gaps[2].gap == 1.0 and gaps[2].ratio == 1.5 and gaps[2].short
    assert gaps[0].no_provider and gaps[0].short and gaps[0].ratio is None
    assert gaps[1].no_provider and not gaps[1].short  # needed in the period, none open

    figures = AreaFigures("c", residents=8, needs=Tally(6, 4), urgent_open=2)
    p = priority(figures, gaps)
    assert p.urgent_rate == 250.0 and p.short_share == 1.0 and p.score == 500.0
    calm = priority(AreaFigures("d", residents=8, needs=Tally(6, 4), urgent_open=2), [])
    tie = priority(AreaFigures("b", residents=4, needs=Tally(1, 1), urgent_open=0), [])
    assert [x.code for x in rank([tie, calm, p])] == ["c", "d", "b"]
    assert priority(AreaFigures("e"), []).score == 0.0  # no resident: no rate, no crash
    assert Gap("s", 1, 1, 0.0).no_provider


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Need:
    """One tag of one person, as the world states it (a Demand row per service of the tag)."""

    person: str
    tag: str
    status: str = "open"
    as_of: date = IN[0]
    first_seen: datetime = IN[1]


RESIDENTS = {A: ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"], B: ["b1", "b2", "b3", "b4"]}
RESIDENTS |= {C: ["c1", "c2", "c3", "c4", "c5"], X: ["x1"]}
NEEDS = [
    Need("a1", "hypertension_uncontrolled"),
    Need("a2", "hypertension_uncontrolled"),
    Need("a3", "hypertension_uncontrolled", status="served"),
    Need("a4", "chronic_continuity"),
    Need("a4", "hypertension_uncontrolled"),  # a second tag for the same service
    Need("a5", "health_certificate"),
    Need("a6", "lipid_lifestyle", as_of=date(2026, 3, 31)),  # stopped holding before Q2
    Need(
        "a7",
        "health_certificate",
        as_of=date(2026, 7, 2),
        first_seen=datetime(2026, 7, 2, tzinfo=UTC),
    ),  # raised after Q2
    Need(
        "a8",
        "elderly_checkup",
        status="closed",
        as_of=date(2026, 8, 1),
        first_seen=datetime(2026, 1, 10, tzinfo=UTC),
    ),  # held all through Q2
    Need("b1", "chronic_continuity"),
    Need("b2", "chronic_continuity"),
    Need(
        "b3",
        "hypertension_uncontrolled",
        as_of=date(2026, 6, 30),
        first_seen=datetime(2026, 11, 22, tzinfo=UTC),
    ),  # a later back-filled evaluation of 30 June
    Need("c1", "health_certificate"),
    Need("c2", "hypertension_uncontrolled", status="served"),
    Need("c3", "chronic_unsigned"),
    Need("x1", "hypertension_uncontrolled"),
    Need("n1", "hypertension_uncontrolled"),  # a person with no known community
]
COMMUNITY = {p: c for c, people in RESIDENTS.items() for p in people}


@dataclass(frozen=True)
class Site:
    """A provider of the world: where it serves which service, on which dates, how much."""

    id: str
    kind: str
    region: str
    service: str
    daily: int
    hours: tuple[tuple[int, str, str], ...] = ()
    stops: tuple[tuple[int, str], ...] = ()  # (weekday, region) for vans
    active: bool = True


WEEKDAYS = tuple((d, "08:00", "12:00") for d in range(1, 6)) + tuple(
    (d, "14:00", "17:00") for d in range(1, 6)
)
SITES = [
    Site("P1", "community_health_centre", A, "chronic_followup", 10, hours=WEEKDAYS),
    Site(
        "P2", "health_station", "449901001", "chronic_followup", 5, hours=((6, "09:00", "12:00"),)
    ),
    Site("V1", "mobile_van", A, "family_doctor_signing", 8, stops=((2, B), (2, C), (4, B))),
    Site(
        "P4",
        "private_clinic",
        C,
        "health_certificate",
        100,
        hours=((3, "08:00", "17:00"),),
        active=False,
    ),
    Site("P5", "village_clinic", C, "health_certificate", 3, hours=((3, "08:00", "17:00"),)),
]


def build_world(session) -> None:
    """Regions, residents, demands, providers and a finished profiling run, as stated above."""
    library = default_library()
    session.add(Region(code="449900", name="示范市", name_en="Demo City", level="city"))
    session.flush()
    for code, name, en in ((D1, "白云区", "Baiyun"), (D2, "东湖区", "Donghu")):
        session.add(
            Region(code=code, name=name, name_en=en, level="district", parent_code="449900")
        )
    session.flush()
    for code in ("449901001", "449902001"):
        session.add(Region(code=code, name="街道" + code, level="street", parent_code=code[:6]))
    session.flush()
    for code, name in ((A, "云山社区"), (B, "松园村"), (C, "湖滨社区")):
        session.add(Region(code=code, name=name, level="community", parent_code=code[:9]))
    for person, community in [*COMMUNITY.items(), ("n1", None)]:
        session.add(Person(id=person, community_code=community, record_count=1))
    session.add(Person(id="ghost", community_code=A, record_count=0))  # emptied by a review
    session.flush()
    for i, need in enumerate(NEEDS):
        tag = library.tags[need.tag]
        for service in tag.services:
            session.add(
                Demand(
                    id=f"D{i:03d}{service}"[:32],
                    person_id=need.person,
                    tag=tag.id,
                    service=service,
                    demand_type=tag.type,
                    level=tag.level,
                    priority=tag.priority,
                    status=need.status,
                    because="{}",
                    community_code=COMMUNITY.get(need.person),
                    as_of=need.as_of,
                    first_seen_at=need.first_seen,
                    last_seen_at=need.first_seen,
                    status_changed_at=need.first_seen,
                )
            )
    for site in SITES:
        session.add(
            Provider(
                id=site.id,
                name=site.id,
                kind=site.kind,
                region_code=site.region,
                lat=23.1,
                lon=113.3,
                active=site.active,
            )
        )
        session.flush()
        session.add(
            ProviderService(
                provider_id=site.id,
                service_code=site.service,
                daily_capacity=site.daily,
                price=Decimal("0"),
            )
        )
        for weekday, opens, closes in site.hours:
            session.add(
                ProviderHours(provider_id=site.id, weekday=weekday, opens=opens, closes=closes)
            )
        for weekday, region in site.stops:
            session.add(
                VanStop(
                    provider_id=site.id,
                    weekday=weekday,
                    start_time="09:00" if region == B else "14:00",
                    end_time="12:00" if region == B else "17:00",
                    lat=23.1,
                    lon=113.3,
                    region_code=region,
                    site_name="站点" + region,
                )
            )
    session.add(
        ProfileRun(
            id="run1", as_of=date(2026, 6, 30), finished_at=datetime(2026, 6, 30, tzinfo=UTC)
        )
    )
    session.flush()


# --------------------------------------------------------------------------- counted again


def counted(period=PERIOD):
    """Every figure of every area, by plain loops over NEEDS, RESIDENTS and SITES."""
    library = default_library()

    def area_codes(community: str) -> list[str]:
        return ["", community[:6], community]

    residents: dict[str, int] = defaultdict(int)
    for community, people in RESIDENTS.items():
        for code in area_codes(community):
            residents[code] += len(people)
    rows = []  # (area, person, tag, service, open, urgent)
    for need in NEEDS:
        raised = min(need.first_seen.date(), need.as_of)
        if not (raised <= period.end and need.as_of >= period.start):
            continue
        community = COMMUNITY.get(need.person)
        if community is None:
            continue
        tag = library.tags[need.tag]
        for service in tag.services:
            for code in area_codes(community):
                rows.append((code, need.person, tag, service, need.status == "open"))
    areas: dict[str, dict] = defaultdict(
        lambda: {
            "persons": set(),
            "open": set(),
            "urgent": set(),
            "services": defaultdict(lambda: [set(), set()]),
            "tags": defaultdict(lambda: [set(), set()]),
            "groups": defaultdict(lambda: [set(), set()]),
            "demands": 0,
            "demands_open": 0,
        }
    )
    for code, person, tag, service, is_open in rows:
        a = areas[code]
        a["persons"].add(person)
        a["demands"] += 1
        a["services"][service][0].add(person)
        a["tags"][tag.id][0].add(person)
        for group in tag.groups:
            a["groups"][group][0].add(person)
        if is_open:
            a["open"].add(person)
            a["demands_open"] += 1
            a["services"][service][1].add(person)
            a["tags"][tag.id][1].add(person)
            for group in tag.groups:
                a["groups"][group][1].add(person)
            if tag.priority == 1:
                a["urgent"].add(person)
    capacity: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    day = period.start
    while day <= period.end:
        for site in SITES:
            if not site.active:
                continue
            if site.kind == "mobile_van":
                stops = [region for weekday, region in site.stops if weekday == day.isoweekday()]
                served = [(region, site.daily / len(stops)) for region in stops]
            else:
                open_today = any(w == day.isoweekday() for w, _, _ in site.hours)
                served = [(site.region, float(site.daily))] if open_today else []
            for region, amount in served:
                for code in {"", region[:6], region if len(region) == 12 else ""}:
                    capacity[code][site.service] += amount
        day += timedelta(days=1)
    return residents, areas, capacity


def score_of(code, residents, areas, capacity) -> float:
    a = areas[code]
    urgent = 1000 * len(a["urgent"]) / residents[code]
    demanded = [s for s, (_, still) in a["services"].items() if still]
    short = [
        s
        for s in demanded
        if capacity[code].get(s, 0) == 0 or len(a["services"][s][1]) > capacity[code][s]
    ]
    return urgent * (1 + (len(short) / len(demanded) if demanded else 0))


# --------------------------------------------------------------------------- reading pages


VOID = {"meta", "br", "link", "img", "input", "hr", "col", "wbr", "source"}


class Page(HTMLParser):
    """A strict little reader: end tags must match, tables are read by class and row key."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._table: dict[str, list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._script = False
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed elements: {self.stack}"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(
                " ".join(sorted((a.get("class") or "").split())), {}
            )
        elif tag == "tr" and self._table is not None:
            key = next((v for k, v in a.items() if k.startswith("data-")), None)
            self._row = [] if key else None
            if key:
                self._table[key] = self._row
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "script":
            self._script = True
            self.scripts.append(a.get("type") or "text/javascript")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script":
            self._script = False

    def handle_data(self, data):
        if self._script:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table(self, name: str) -> dict[str, list[str]]:
        return self.tables.get(name, {})

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def number(cell: str) -> float:
    return float(cell.replace(",", ""))


def read(out: Path, name: str) -> Page:
    return Page((out / name).read_text("utf-8"))


# --------------------------------------------------------------------------- the report


def test_the_pages_print_the_counted_figures_and_ranking(session, tmp_path):
    build_world(session)
    out = tmp_path / "wp"
    summary = write_demand_report(session, PERIOD, out, shared_script=True)
    residents, areas, capacity = counted()

    pages = {
        "": "index.html",
        D1: "district-449901.html",
        D2: "district-449902.html",
        A: "community-449901001001.html",
        B: "community-449901001002.html",
        C: "community-449902001001.html",
        X: "community-449902001009.html",
    }
    assert sorted(summary.files) == sorted(pages.values())
    assert sorted(p.name for p in out.glob("*.html")) == sorted(pages.values())
    assert (summary.districts, summary.communities) == (2, 4)
    assert summary.residents == residents[""] == 18  # the emptied person is no resident
    assert summary.persons_with_needs == len(areas[""]["persons"])
    assert summary.status_as_of == "2026-06-30"

    for code, name in pages.items():
        page = read(out, name)
        a = areas[code]
        overview = {k: number(v[1]) for k, v in page.table("overview").items()}
        assert overview == {
            "residents": residents[code],
            "persons_with_needs": len(a["persons"]),
            "persons_open": len(a["open"]),
            "urgent_open": len(a["urgent"]),
            "demands": a["demands"],
            "demands_open": a["demands_open"],
        }, name
        problems = {tag: (number(r[2]), number(r[4])) for tag, r in page.table("problems").items()}
        assert problems == {t: (len(p), len(o)) for t, (p, o) in a["tags"].items()}, name
        rate = page.table("problems")["hypertension_uncontrolled"][3]
        assert number(rate) == pytest.approx(
            1000 * len(a["tags"]["hypertension_uncontrolled"][0]) / residents[code], abs=0.05
        )
        groups = {g: (number(r[1]), number(r[2])) for g, r in page.table("groups").items()}
        assert groups == {g: (len(p), len(o)) for g, (p, o) in a["groups"].items()}, name
        gaps = page.table("gaps")
        assert set(gaps) == set(a["services"]), name
        for service, (needing, still) in a["services"].items():
            row = gaps[service]
            cap = capacity[code].get(service, 0.0)
            assert (number(row[1]), number(row[2])) == (len(needing), len(still))
            assert number(row[3]) == round(cap), (name, service)
            assert number(row[4]) == round(len(still) - cap)
            assert ("本区域无服务机构" in row[0]) == (cap == 0), (name, service)

    # Community A: chronic follow-up at P1 on 65 weekdays; B and C get the van's stops.
    assert capacity[A]["chronic_followup"] == 650 and capacity[B]["family_doctor_signing"] == 156
    assert capacity[D1]["chronic_followup"] == 650 + 5 * 13  # the street-level station
    assert capacity[C] == {"family_doctor_signing": 52.0, "health_certificate": 39.0}

    expected = sorted([A, B, C, X], key=lambda c: (-score_of(c, residents, areas, capacity), c))
    assert expected == [X, B, A, C]  # worked by hand in the module's notes
    index = read(out, "index.html")
    ranking = index.table("communities ranking")
    assert list(ranking) == expected
    for code in expected:
        assert number(ranking[code][5]) == pytest.approx(
            score_of(code, residents, areas, capacity), abs=0.005
        )
    assert list(index.table("districts ranking")) == sorted(
        [D1, D2], key=lambda c: -score_of(c, residents, areas, capacity)
    )
    assert list(read(out, pages[D2]).table("communities ranking")) == [X, C]
    assert "2 / 2" in read(out, pages[C]).all_text  # C is second of district 2's two
    assert {h for h in index.hrefs} >= {pages[D1], pages[D2], pages[A], pages[X]}
    for name in pages.values():
        for href in read(out, name).hrefs:
            assert (out / href).exists(), (name, href)


def test_a_region_limits_the_report_and_an_unknown_region_is_refused(session, tmp_path):
    build_world(session)
    summary = write_demand_report(session, PERIOD, tmp_path / "d2", within=D2, shared_script=True)
    assert sorted(summary.files) == [
        "community-449902001001.html",
        "community-449902001009.html",
        "district-449902.html",
        "index.html",
    ]
    residents, areas, _ = counted()
    overview = read(tmp_path / "d2", "index.html").table("overview")
    assert number(overview["residents"][1]) == residents[D2]
    assert number(overview["persons_with_needs"][1]) == len(areas[D2]["persons"])
    with pytest.raises(UnknownRegion):
        write_demand_report(session, PERIOD, tmp_path / "no", within="449977")


def test_pages_are_self_contained_and_a_rerun_writes_the_same_bytes(session, tmp_path):
    build_world(session)
    first = write_demand_report(session, PERIOD, tmp_path / "one")
    second = write_demand_report(session, PERIOD, tmp_path / "two")
    assert first.files == second.files
    for name in first.files:
        one = (tmp_path / "one" / name).read_bytes()
        assert one == (tmp_path / "two" / name).read_bytes(), name
    page = read(tmp_path / "one", "community-449901001001.html")
    text = (tmp_path / "one" / "community-449901001001.html").read_text("utf-8")
    assert "<script src=" not in text and "echarts" in text.lower()  # ECharts is inlined
    assert "Apache License" in text and "The Apache Software Foundation" in page.all_text
    assert {"chart-tags", "chart-types", "chart-gaps"} <= page.ids
    assert page.scripts.count("application/json") == 3
    assert "主要健康问题 Main health problems" in page.all_text
    assert "服务缺口 Service gaps" in page.all_text
    assert "2026-Q2" in page.all_text and "2026-06-30" in page.all_text


def test_an_empty_database_gives_a_report_that_says_so(session, tmp_path):
    summary = write_demand_report(session, PERIOD, tmp_path / "empty")
    assert summary.files == ["index.html"]
    assert (summary.districts, summary.communities, summary.residents) == (0, 0, 0)
    page = read(tmp_path / "empty", "index.html")
    assert "本期暂无数据 No data for this period" in page.all_text
    assert "no-data" in page.ids and not page.scripts  # nothing to draw, no script


def test_a_period_without_demands_says_so_on_every_page(session, tmp_path):
    build_world(session)
    summary = write_demand_report(session, parse_period("2025-01"), tmp_path / "old")
    page = read(tmp_path / "old", "community-449901001001.html")
    assert number(page.table("overview")["persons_with_needs"][1]) == 0
    assert number(page.table("overview")["residents"][1]) == len(RESIDENTS[A])
    assert page.all_text.count("本期无记录 None in this period") == 3
    assert summary.persons_with_needs == 0


# --------------------------------------------------------------------------- the command


def test_the_command_prints_a_summary_and_refuses_bad_input(sqlite_env, tmp_path):
    with session_scope() as session:
        build_world(session)
    result = runner.invoke(app, ["report", "demand", "--period", "2026-Q2"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    out = sqlite_env.data_dir / "reports" / "demand-2026-Q2"
    assert summary["out"] == str(out)
    assert (summary["period"], summary["start"], summary["end"]) == (
        "2026-Q2",
        "2026-04-01",
        "2026-06-30",
    )
    assert (summary["districts"], summary["communities"]) == (2, 4)
    assert sorted(p.name for p in out.iterdir()) == sorted(summary["files"] + summary["assets"])
    assert "echarts.min.js" in summary["assets"], "by default ECharts is written once, beside"

    bad = runner.invoke(app, ["report", "demand", "--period", "2026-13"])
    assert bad.exit_code == 2
    assert "is not a period" in bad.output and "YYYY-Qn" in bad.output
    region = runner.invoke(app, ["report", "demand", "--period", "2026", "--region", "449977"])
    assert region.exit_code == 2 and "449977" in region.output


def test_the_command_on_an_empty_installation(sqlite_env, tmp_path):
    result = runner.invoke(
        app, ["report", "demand", "--period", "2026-05", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["files"] == ["index.html"] and summary["status_as_of"] is None
    assert "本期暂无数据" in (tmp_path / "r" / "index.html").read_text("utf-8")
