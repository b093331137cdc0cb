"""Weekly demand per district × service from the database, hot spots and series (API, CLI)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.profiling.models import Demand
from tests.fixtures.people import D1, D2, build_two_districts, token

AS_OF = date(2026, 6, 10)  # a Wednesday: the last complete week is the one of 1 June
LAST_WEEK = date(2026, 6, 1)
WEEKS = 40
RISING, FLAT = "chronic_followup", "health_certificate"


def _counts() -> dict[tuple[str, str], list[int]]:
    """Demands per week, oldest first: two rising series (D2 steeper) and a flat one."""
    return {
        (D1, RISING): [2 + k // 2 for k in range(WEEKS)],
        (D1, FLAT): [5] * WEEKS,
        (D2, RISING): [1 + k for k in range(WEEKS)],
    }


def _seed(people) -> None:
    person = {D1: people.person_d1, D2: people.person_d2}
    first = LAST_WEEK - timedelta(weeks=WEEKS - 1)
    rows = []
    for (district, service), counts in _counts().items():
        for k, count in enumerate(counts):
            noon = datetime.combine(first + timedelta(weeks=k, days=2), datetime.min.time())
            for i in range(count):
                rows.append((district, service, noon.replace(hour=4, tzinfo=UTC), i))
    # City days (UTC+8): Sunday 15:00 UTC is still Sunday in the city (the week of 1 June);
    # Sunday 17:00 UTC is already Monday 8 June there, in the incomplete week: not counted.
    rows.append((D1, FLAT, datetime(2026, 6, 7, 15, tzinfo=UTC), 0))
    rows.append((D1, FLAT, datetime(2026, 6, 7, 17, tzinfo=UTC), 0))
    values = [
        {
            "id": f"D{n:031d}",
            "person_id": person[district],
            "tag": "t",
            "service": service,
            "demand_type": "public_health",
            "level": "maintenance",
            "priority": 3,
            "status": "served" if n % 3 else "open",
            "because": "{}",
            "community_code": f"{district}001001",
            "as_of": seen.date(),
            "first_seen_at": seen,
        }
        for n, (district, service, seen, _) in enumerate(rows)
    ]
    with session_scope() as session:
        session.execute(insert(Demand), values)


@pytest.fixture
def world(env, tmp_path):
    people = build_two_districts(tmp_path)
    _seed(people)
    return people


def _get(client, user, path, **params):
    return client.get(
        path, params={"as_of": AS_OF.isoformat(), **params}, headers=token(client, user)
    )


def test_an_official_sees_the_rises_of_their_own_district_only(world, client):
    response = _get(client, "official_d1", "/api/v1/forecasting/hotspots", horizon=13)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["horizon"] == 13 and body["as_of"] == AS_OF.isoformat()
    assert {item["district"] for item in body["items"]} == {D1}
    top = body["items"][0]
    assert top["id"] == f"{D1}:{RISING}" and top["service"] == RISING
    # The recent 13 weeks of the rising series, counted by hand
    assert top["recent_weekly"] == pytest.approx(sum(_counts()[(D1, RISING)][-13:]) / 13)
    assert top["rise"] > 1.0
    assert top["rise_relative"] == pytest.approx(top["rise"] / top["recent_weekly"])
    assert top["expected_lo80"] <= top["expected_weekly"] <= top["expected_hi80"]
    assert top["peak_lo80"] <= top["peak_forecast"] <= top["peak_hi80"]
    assert LAST_WEEK < date.fromisoformat(top["peak_week"]) <= LAST_WEEK + timedelta(weeks=13)

    # and admin sees every district, the steepest rise first
    body = _get(client, "admin1", "/api/v1/forecasting/hotspots").json()
    ids = [item["id"] for item in body["items"]]
    assert ids[:2] == [f"{D2}:{RISING}", f"{D1}:{RISING}"]
    assert body["total"] == len(ids)
    assert all(
        a["rise"] >= b["rise"] for a, b in zip(body["items"], body["items"][1:], strict=False)
    )
    paged = _get(client, "admin1", "/api/v1/forecasting/hotspots", limit=1, offset=1).json()
    assert [item["id"] for item in paged["items"]] == ids[1:2]


def test_the_series_has_the_hand_counted_history_and_refusals_are_clear(world, client):
    response = _get(
        client, "official_d1", "/api/v1/forecasting/series", district=D1, service=FLAT, horizon=6
    )

    assert response.status_code == 200, response.text
    body = response.json()
    expected = list(_counts()[(D1, FLAT)])
    expected[-1] += 1  # Sunday 15:00 UTC is still the week of 1 June in the city
    assert [h["value"] for h in body["history"]] == expected
    assert body["history"][-1]["week"] == LAST_WEEK.isoformat()
    weeks = [date.fromisoformat(f["week"]) for f in body["forecast"]]
    assert weeks == [LAST_WEEK + timedelta(weeks=k) for k in range(1, 7)]
    for row in body["forecast"]:
        assert 0 <= row["lo80"] <= row["forecast"] <= row["hi80"]
        assert 3 < row["forecast"] < 8  # a flat five a week stays near five

    # and roles, jurisdiction and bad requests are refused clearly
    hotspots, series = "/api/v1/forecasting/hotspots", "/api/v1/forecasting/series"
    assert client.get(hotspots).status_code == 401
    assert _get(client, "doctor_d1", hotspots).status_code == 403
    outside = _get(client, "official_d1", series, district=D2, service=RISING)
    missing = _get(client, "official_d1", series, district=D1, service="no_such_service")
    assert missing.status_code == 404
    # outside the jurisdiction: the same answer as no data, so nothing leaks
    assert outside.status_code == 404
    assert outside.json()["type"] == missing.json()["type"]
    bad = _get(client, "official_d1", series, district="4499", service=RISING)
    assert bad.status_code == 400 and "6-digit" in bad.json()["detail"]
    assert _get(client, "official_d1", hotspots, horizon=27).status_code == 422
    future = client.get(
        hotspots, params={"as_of": "9999-12-31"}, headers=token(client, "official_d1")
    )
    assert future.status_code == 400 and "as_of must be between" in future.json()["detail"]


def test_the_cli_prints_the_top_hot_spots_as_json_lines(sqlite_env, tmp_path):
    _seed(build_two_districts(tmp_path))
    result = CliRunner().invoke(
        app, ["forecasting", "hotspots", "--top", "2", "--as-of", AS_OF.isoformat()]
    )
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == [f"{D2}:{RISING}", f"{D1}:{RISING}"]
    mine = CliRunner().invoke(
        app,
        ["forecasting", "hotspots", "--region", D1, "--as-of", AS_OF.isoformat()],
    )
    assert {json.loads(line)["district"] for line in mine.stdout.splitlines()} == {D1}
    bad = CliRunner().invoke(app, ["forecasting", "hotspots", "--as-of", "June"])
    assert bad.exit_code == 2 and "--as-of" in bad.stderr
