"""The indicator cockpit: lights, drill-down, jurisdiction, warnings and the CSV/XLSX export.

Points are written straight into the indicator store (as a refresh would write them), so each
value, target and status is known here; the page and the exports must show exactly the API's.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from uuid import uuid4

import pytest
from openpyxl import load_workbook

from carematch.core.db import session_scope
from carematch.indicators import repository
from carematch.indicators.models import IndicatorWarning
from carematch.security.audit import verify
from carematch.security.models import AuditEntry
from carematch.web.cockpit.indicators import EXPORT_COLUMNS, export_header
from tests.web.conftest import BAIYUN, BAIYUN_COMMUNITY, JIANGNAN, JIANGNAN_COMMUNITY, City

CITY = "449900"
BAIYUN_STREET = "449901001"
# (indicator, region, value, target, status) for 2026-05 and 2026-06; June is the latest.
POINTS = {
    "chronic_control_rate": {
        CITY: (0.5, "red"),
        BAIYUN: (0.62, "green"),
        JIANGNAN: (0.31, "red"),
        BAIYUN_STREET: (0.62, "green"),
        BAIYUN_COMMUNITY: (0.58, "amber"),
        JIANGNAN_COMMUNITY: (0.31, "red"),
    },
    "satisfaction": {
        CITY: (0.95, "green"),
        BAIYUN: (0.97, "green"),
        BAIYUN_COMMUNITY: (0.4, "red"),
    },
    "demand_response_hours": {CITY: (30.5, "red"), BAIYUN: (12.0, "green")},
}
TARGETS = {"chronic_control_rate": 0.6, "satisfaction": 0.9, "demand_response_hours": 24.0}


def _point(indicator: str, period: str, region: str, value: float, status: str, **kw) -> dict:
    return {
        "id": uuid4().hex,
        "indicator_id": indicator,
        "period": period,
        "region_code": region,
        "disaggregation": kw.get("disaggregation", "total"),
        "group_key": kw.get("group_key", ""),
        "numerator": value * 100,
        "denominator": 100.0,
        "value": value,
        "target": TARGETS[indicator],
        "status": status,
    }


@pytest.fixture
def store(city: City) -> dict[str, str]:
    """Two months of points, a hukou breakdown and one open warning in a 白云区 community."""
    with session_scope() as session:
        for period, shift in (("2026-05", 0.05), ("2026-06", 0.0)):
            rows = [
                _point(ind, period, region, value + shift, status)
                for ind, regions in POINTS.items()
                for region, (value, status) in regions.items()
            ]
            rows.append(
                _point("chronic_control_rate", period, CITY, 0.7, "green", **_hukou("local"))
            )
            rows.append(
                _point("chronic_control_rate", period, CITY, 0.2, "red", **_hukou("migrant"))
            )
            repository.replace_period(session, period, list(POINTS), rows)
        warning = IndicatorWarning(
            id=uuid4().hex,
            indicator_id="satisfaction",
            period="2026-06",
            region_code=BAIYUN_COMMUNITY,
            disaggregation="total",
            group_key="",
            value=0.4,
            baseline=0.9,
            score=6.0,
            status="open",
            detected_on=date(2026, 7, 1),
        )
        other = IndicatorWarning(
            id=uuid4().hex,
            indicator_id="chronic_control_rate",
            period="2026-06",
            region_code=JIANGNAN_COMMUNITY,
            disaggregation="total",
            group_key="",
            value=0.31,
            baseline=0.6,
            score=5.0,
            status="open",
            detected_on=date(2026, 7, 1),
        )
        session.add_all([warning, other])
    return {"baiyun": warning.id, "jiangnan": other.id}


def _hukou(key: str) -> dict[str, str]:
    return {"disaggregation": "hukou", "group_key": key}


def _same(cell: object) -> object:
    """A cell as a comparable value: numbers as floats (a sheet keeps 100.0 as 100), else text."""
    if cell is None:
        return ""
    try:
        return float(cell)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(cell)


def test_city_official_sees_lights_with_words_grouped_by_dimension(client, store, signed_in):
    signed_in("official")

    response = client.get("/cockpit/indicators")

    assert response.status_code == 200
    page = response.text
    assert 'data-region="449900"' in page
    # Outcome (control rate), benefit (satisfaction) and process (response hours) groups.
    for dim in ("process", "outcome", "benefit"):
        assert f'data-dimension="{dim}"' in page
    assert 'data-indicator="chronic_control_rate" data-group="" data-status="red"' in page
    assert 'data-indicator="satisfaction" data-group="" data-status="green"' in page
    # Never colour alone: the red light carries its word and symbol (Chinese first).
    assert "未达标" in page or "Off target" in page
    assert "✖" in page and "✔" in page
    assert 'id="count-red" data-count="2"' in page
    # June is the latest month: 50.0 %, not May's 55.0 %.
    assert "50.0%" in page and "≥ 60.0%" in page


def test_drill_down_city_district_street_community_by_plain_links(client, store, signed_in):
    signed_in("official")

    city = client.get("/cockpit/indicators?indicator=chronic_control_rate").text
    assert f"region={BAIYUN}" in city and f"region={JIANGNAN}" in city
    assert f'<tr data-code="{JIANGNAN}" data-status="red">' in city

    district = client.get(f"/cockpit/indicators?region={BAIYUN}").text
    assert f"region={BAIYUN_STREET}" in district
    assert f"region={JIANGNAN}&" not in district  # only its own streets below it

    street = client.get(f"/cockpit/indicators?region={BAIYUN_STREET}").text
    assert f"region={BAIYUN_COMMUNITY}" in street

    community = client.get(f"/cockpit/indicators?region={BAIYUN_COMMUNITY}").text
    assert 'data-level="community"' in community
    assert 'data-indicator="chronic_control_rate" data-group="" data-status="amber"' in community
    assert 'data-indicator="satisfaction" data-group="" data-status="red"' in community
    # Breadcrumbs: city › district › street › community, each a link but the last.
    assert f"region={CITY}" in community and f"region={BAIYUN}&" in community
    assert 'aria-current="page">云山社区' in community


def test_district_official_cannot_open_another_district(client, store, signed_in):
    signed_in("baiyun_official")

    assert client.get(f"/cockpit/indicators?region={JIANGNAN}").status_code == 403
    assert client.get(f"/cockpit/indicators?region={JIANGNAN_COMMUNITY}").status_code == 403
    assert client.get(f"/cockpit/indicators/export.csv?region={JIANGNAN}").status_code == 403
    assert client.get(f"/cockpit/indicators/export.xlsx?region={CITY}").status_code == 403

    own = client.get("/cockpit/indicators").text
    assert f'data-region="{BAIYUN}"' in own
    # The city above is shown in the breadcrumbs as text, not as a link it may not open.
    assert f"region={CITY}" not in own
    # Only its own district's warning is listed.
    assert store["baiyun"] in own and store["jiangnan"] not in own
    assert f"region={JIANGNAN}" not in own


def test_other_roles_are_refused(client, store, signed_in):
    signed_in("doctor")
    assert client.get("/cockpit/indicators", follow_redirects=False).status_code in (303, 403)
    assert client.get("/cockpit/indicators/export.csv").status_code == 403


def test_bad_breakdown_and_month_are_a_clear_400(client, store, signed_in):
    signed_in("official")
    assert client.get("/cockpit/indicators?breakdown=nonsense").status_code == 400
    assert client.get("/cockpit/indicators?period=2026-13").status_code == 400
    assert client.get("/cockpit/indicators?region=999999").status_code in (403, 404)


@pytest.mark.parametrize("breakdown", ["total", "hukou"])
def test_csv_export_equals_the_api_and_is_audited(client, store, signed_in, breakdown):
    signed_in("official")
    api = client.get(
        "/api/v1/indicators", params={"region": CITY, "disaggregation": breakdown}
    ).json()

    response = client.get(
        "/cockpit/indicators/export.csv", params={"region": CITY, "breakdown": breakdown}
    )

    assert response.status_code == 200
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == export_header()
    assert rows[0][0] == "地区代码 region_code"
    expected = [
        ["" if item[key] is None else str(item[key]) for key, _ in EXPORT_COLUMNS]
        for item in api["items"]
    ]
    assert rows[1:] == expected
    assert len(expected) == (3 if breakdown == "total" else 2)
    with session_scope() as session:
        entries = session.query(AuditEntry).filter(AuditEntry.action == "indicators.export").all()
        assert [(e.actor, e.entity_id) for e in entries] == [("official", CITY)]
        assert f'"breakdown": "{breakdown}"' in entries[0].detail
        assert verify(session)[1] == []


def test_xlsx_export_opens_and_holds_the_same_rows(client, store, signed_in):
    signed_in("baiyun_official")
    csv_rows = list(
        csv.reader(
            io.StringIO(
                client.get(
                    f"/cockpit/indicators/export.csv?region={BAIYUN_COMMUNITY}"
                ).content.decode("utf-8-sig")
            )
        )
    )

    response = client.get(f"/cockpit/indicators/export.xlsx?region={BAIYUN_COMMUNITY}")

    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    sheet = book.active
    cells = [[_same(v) for v in row] for row in sheet.iter_rows(values_only=True)]
    assert cells == [[_same(v) for v in row] for row in csv_rows]
    assert [r[4] for r in cells[1:]] == ["chronic_control_rate", "satisfaction"]
    assert cells[1][10] == 0.58


def test_rectify_form_puts_the_warning_on_the_ledger(client, store, signed_in):
    signed_in("baiyun_official")
    page = client.get("/cockpit/indicators").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    form = {
        "measure": "补充家庭医生团队人员，恢复季度随访",
        "department": "区卫生健康局基层卫生科",
        "deadline": (date.today() + timedelta(days=20)).isoformat(),
        "region": BAIYUN,
    }

    forged = client.post(
        f"/cockpit/indicators/warnings/{store['baiyun']}/rectify",
        data=form,
        follow_redirects=False,
    )
    assert forged.status_code == 403

    done = client.post(
        f"/cockpit/indicators/warnings/{store['baiyun']}/rectify",
        data={**form, "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with session_scope() as session:
        warning = session.get(IndicatorWarning, store["baiyun"])
        assert warning.status == "rectifying" and warning.finding_id
    after = client.get(done.headers["location"]).text
    assert 'id="ind-notice"' in after
    assert f'data-warning="{store["baiyun"]}"' not in after

    # Another district's warning is not theirs to rectify: 404, as the API answers.
    other = client.post(
        f"/cockpit/indicators/warnings/{store['jiangnan']}/rectify",
        data={**form, "csrf_token": token},
        follow_redirects=False,
    )
    assert other.status_code == 404


def test_rectify_with_a_past_deadline_is_explained(client, store, signed_in):
    signed_in("baiyun_official")
    page = client.get("/cockpit/indicators").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]

    response = client.post(
        f"/cockpit/indicators/warnings/{store['baiyun']}/rectify",
        data={
            "csrf_token": token,
            "measure": "补充人员",
            "department": "基层卫生科",
            "deadline": "2000-01-01",
            "region": BAIYUN,
        },
    )

    assert response.status_code == 400
    assert 'id="ind-error"' in response.text
    with session_scope() as session:
        assert session.get(IndicatorWarning, store["baiyun"]).status == "open"


def test_empty_store_shows_how_to_compute(client, city, signed_in):
    signed_in("official")
    page = client.get("/cockpit/indicators").text
    assert 'id="ind-empty"' in page
    assert "carematch indicators refresh" in page


def test_public_board_shows_monthly_city_progress_from_the_indicator_store(client, city):
    """R-EV-4: completion, resource use and participation per month, city aggregates only."""

    def row(indicator, period, region, num, den, breakdown="total", key=""):
        return {
            **_point("satisfaction", period, region, num / den, "none"),
            "indicator_id": indicator,
            "disaggregation": breakdown,
            "group_key": key,
            "numerator": num,
            "denominator": den,
            "target": None,
        }

    ids = ["resource_match_rate", "policy_budget_use"]
    with session_scope() as session:
        repository.replace_period(
            session,
            "2026-06",
            ids,
            [
                row("resource_match_rate", "2026-06", CITY, 45, 60),
                row("resource_match_rate", "2026-06", BAIYUN, 1, 1),  # a district: not the city's
                row("policy_budget_use", "2026-06", CITY, 300, 1000, "policy", "p1"),
                row("policy_budget_use", "2026-06", CITY, 100, 1000, "policy", "p2"),
            ],
        )
        repository.replace_period(
            session, "2026-05", ids, [row("resource_match_rate", "2026-05", CITY, 30, 60)]
        )

    page = client.get("/board")  # public: nobody signed in

    assert page.status_code == 200
    html = page.text
    june = html.split('<tr data-period="2026-06">', 1)[1].split("</tr>", 1)[0]
    assert 'data-measure="completion" data-value="0.75"' in june
    assert 'data-measure="resource_use" data-value="0.2"' in june  # (300 + 100) / 2000
    assert 'data-measure="participation" data-value=""' in june  # no survey: no figure
    may = html.split('<tr data-period="2026-05">', 1)[1].split("</tr>", 1)[0]
    assert 'data-measure="completion" data-value="0.5"' in may
    assert html.index("2026-06") < html.index("2026-05")
    for name in city.full_names:
        assert name not in html
