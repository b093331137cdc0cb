"""The indicators on a generated city in SQLite and PostgreSQL: refresh, store, warn, rectify.

Each test loads a small generated city (generated once per module) into a fresh installation:
the region tree, every extract ingested, persons linked exactly on their ID numbers, profiles
built as of the city's reference date (so demands exist), then refreshes the indicators.
"""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select

from carematch.core.clock import city_today, utcnow
from carematch.core.db import Base, get_engine, session_scope
from carematch.core.hooks import IngestEvent, run_after_ingest
from carematch.core.ids import new_id
from carematch.core.migrate import alembic_config, import_all_models
from carematch.core.models import Region
from carematch.core.regions import load_regions
from carematch.feedback.models import Finding, RectificationItem
from carematch.identity.models import PersonLink, SourceRecord
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.indicators import service
from carematch.indicators.compute import Period
from carematch.indicators.definitions import default_definitions
from carematch.indicators.models import IndicatorValue, IndicatorWarning
from carematch.notifications.models import OutboxMessage
from carematch.profiling.service import build_profiles
from carematch.security.models import User
from carematch.security.service import create_user
from carematch.security.tokens import issue_token
from carematch.synth import generate_city
from tests.fixtures.people import D1, D2, PASSWORD
from tests.indicators.hand import HAND_INDICATORS, expected

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")
TABLES = {"indicator_values", "indicator_warnings"}
CITY = "449900"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("indicators") / "city"
    generate_city(residents=150, seed=8123, out=path)
    return path


@pytest.fixture
def as_of(env, city: Path) -> date:
    """The generated city loaded into the installation; its reference date."""
    day = date.fromisoformat(json.loads((city / "manifest.json").read_text())["as_of"])
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in SOURCES:
            ingest_file(session, source, city / f"{source}.csv")
        build_persons_exact(session)
        _link_surveys_by_truth(session, city)
        create_user(session, "official_d1", "official", PASSWORD, D1)
        create_user(session, "official_city", "official", PASSWORD, CITY)
        create_user(session, "resident_x", "resident", PASSWORD)
    with session_scope() as session:
        build_profiles(session, day)
    return day


def _link_surveys_by_truth(session, city: Path) -> None:
    """Surveys carry no ID number, so exact linkage leaves them out; link them as the
    generator's truth says (to the person holding the same true person's ID-linked records),
    as the probabilistic linker would."""
    with (city / "truth" / "records.csv").open(encoding="utf-8") as handle:
        truth = {(r["source"], r["record_id"]): r["person_id"] for r in csv.DictReader(handle)}
    rows = session.execute(
        select(SourceRecord.source, SourceRecord.record_id, PersonLink.person_id).join(
            PersonLink, PersonLink.record_pk == SourceRecord.id
        )
    ).all()
    linked = {truth.get((src, rid)): pid for src, rid, pid in rows}
    surveys = session.execute(
        select(SourceRecord.id, SourceRecord.record_id).where(SourceRecord.source == "survey")
    ).all()
    for pk, record_id in surveys:
        person = linked.get(truth.get(("survey", record_id)))
        if person is not None:
            session.add(PersonLink(record_pk=pk, person_id=person, method="truth"))
    session.flush()


def _seed_services(session, city: Path) -> None:
    """Bookings answering some demands, visits with ratings, and complaints, this month."""
    from carematch.booking.models import Booking, Rating, ServiceRecord, Slot
    from carematch.feedback.models import Complaint
    from carematch.profiling.models import Demand
    from carematch.providers.models import Provider
    from carematch.providers.service import load_providers

    load_providers(session, city)
    provider = session.scalars(select(Provider).order_by(Provider.id)).first()
    now = utcnow()
    slot = Slot(
        id=new_id(),
        provider_id=provider.id,
        service="chronic_followup",
        starts_at=now + timedelta(days=2),
        ends_at=now + timedelta(days=2, minutes=15),
        capacity=100,
        region_code=provider.region_code,
        source="test",
        created_by="test",
    )
    session.add(slot)
    session.flush()
    demands = session.scalars(select(Demand).order_by(Demand.id)).all()
    booked: set[str] = set()
    for i, demand in enumerate(demands[: len(demands) // 2]):
        if demand.person_id in booked:
            continue  # one booking per person and slot
        booked.add(demand.person_id)
        session.add(
            Booking(
                id=new_id(),
                slot_id=slot.id,
                person_id=demand.person_id,
                demand_id=demand.id,
                created_by="test",
                created_at=demand.first_seen_at + timedelta(hours=1 + 7 * (i % 9)),
            )
        )
    for i, demand in enumerate(demands[:40]):
        record = ServiceRecord(
            id=new_id(),
            person_id=demand.person_id,
            provider_id=provider.id,
            service="vaccination_child" if i % 4 == 0 else "chronic_followup",
            region_code=demand.community_code if i % 3 else None,
            performed_at=now,
            summary="visit",
            outcome="resolved",
            recorded_by="test",
        )
        session.add(record)
        session.flush()
        session.add(
            Rating(
                id=new_id(),
                service_record_id=record.id,
                person_id=demand.person_id,
                provider_id=provider.id,
                service=record.service,
                visit_month=now.strftime("%Y-%m"),
                score=1 + i % 5,
                rated_by="test",
                rated_at=now,
            )
        )
    for i in range(7):
        session.add(
            Complaint(
                id=new_id(),
                channel="phone",
                category="service_quality",
                region_code=f"{D1}00{1 + i % 2}00{1 + i % 3}" if i % 2 else D2,
                text="complaint",
                received_at=now,
                due_at=now + timedelta(days=5),
                registered_by="test",
            )
        )
    session.flush()


def _stored(period: str) -> dict[tuple[str, str, str, str], IndicatorValue]:
    with session_scope() as session:
        rows = session.scalars(select(IndicatorValue).where(IndicatorValue.period == period))
        out = {(r.indicator_id, r.region_code, r.disaggregation, r.group_key): r for r in rows}
        session.expunge_all()
    return out


def _check_against_hand_sql(period: Period, today: date) -> int:
    as_of = min(period.last_day, today)
    with session_scope() as session:
        people, inputs = service._people_and_inputs(session, as_of)
    hand = expected(people, inputs, period, CITY, as_of)
    stored = _stored(period.label)
    engine = {k: (v.numerator, v.denominator) for k, v in stored.items() if k[0] in HAND_INDICATORS}
    assert set(engine) == set(hand)
    for key, (n, d) in hand.items():
        assert engine[key][0] == pytest.approx(n), key
        assert engine[key][1] == (pytest.approx(d) if d is not None else None), key
    return len(hand)


def test_refresh_stores_every_indicator_equal_to_hand_sql_and_reruns_idempotently(
    as_of, city: Path
):
    june = Period.containing(as_of)
    with session_scope() as session:
        summary = service.refresh(session, june, today=as_of)
    assert summary.period == june.label and summary.persons > 120
    checked = _check_against_hand_sql(june, as_of)
    stored = _stored(june.label)
    # The people, survey and settlement indicators have values in the city and its districts.
    for indicator in ("chronic_control_rate", "health_literacy", "social_integration"):
        assert stored[(indicator, CITY, "total", "")].denominator > 0
        assert any(k[0] == indicator and k[2] == "hukou" and len(k[1]) == 6 for k in stored)
    # Demands were first seen today (the profile run), so their figures fall in this month.
    this_month = Period.containing(city_today())
    with session_scope() as session:
        _seed_services(session, city)
    with session_scope() as session:
        service.refresh(session, this_month)
    checked += _check_against_hand_sql(this_month, city_today())
    now_stored = _stored(this_month.label)
    match = now_stored[("resource_match_rate", CITY, "total", "")]
    assert 0 < match.numerator < match.denominator
    assert now_stored[("demand_response_hours", CITY, "total", "")].value > 1
    assert now_stored[("satisfaction", CITY, "total", "")].denominator == 40
    assert now_stored[("vaccination_satisfaction", CITY, "total", "")].denominator == 10
    assert now_stored[("complaints_received", CITY, "total", "")].value == 7
    assert checked > 200

    # Provider indicators hold the provider's figures (one definition: vaccination/quality.py).
    from carematch.policy.execution import execution_indicators
    from carematch.vaccination.quality import quality_indicators

    with session_scope() as session:
        q = quality_indicators(session, june.start, june.end, with_children=False)
        policies = execution_indicators(session, june.start, june.last_day)
        district = execution_indicators(session, june.start, june.last_day, D1)
    assert stored[("vaccination_doses_given", CITY, "total", "")].value == q.doses_given
    for region, found in ((CITY, policies), (D1, district)):
        for p in found:
            point = stored[("policy_service_coverage", region, "policy", p["policy"])]
            assert (point.numerator, point.denominator) == (p["served"], p["eligible"])

    # A rerun replaces the month's points: same keys and values, no duplicates.
    with session_scope() as session:
        again = service.refresh(session, june, today=as_of)
    assert again.points == summary.points
    rerun = _stored(june.label)
    assert set(rerun) == set(stored)
    assert all(rerun[k].value == stored[k].value for k in stored)


def _seed_series(region: str, values: list[float], last: Period, denominator: float = 200):
    """Stored monthly points of the diabetes management rate ending at ``last``."""
    periods = [last]
    while len(periods) < len(values):
        periods.insert(0, periods[0].previous())
    with session_scope() as session:
        for period, value in zip(periods, values, strict=True):
            session.add(
                IndicatorValue(
                    id=new_id(),
                    indicator_id="diabetes_management_rate",
                    period=period.label,
                    region_code=region,
                    disaggregation="total",
                    group_key="",
                    numerator=value * denominator,
                    denominator=denominator,
                    value=value,
                    target=0.7,
                    status="green",
                    computed_at=utcnow(),
                )
            )


def _bearer(username: str) -> dict[str, str]:
    with session_scope() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        token, _ = issue_token(user.id, user.role, user.region_code)
    return {"Authorization": f"Bearer {token}"}


def test_a_drop_warns_the_officials_over_the_region_once_and_becomes_a_ledger_item(env):
    community = f"{D1}001001"
    last = Period.month("2026-05")
    _seed_series(community, [0.85, 0.84, 0.86, 0.85, 0.85, 0.84, 0.86, 0.70], last)
    _seed_series(f"{D2}001001", [0.85, 0.84, 0.86, 0.85, 0.85, 0.84, 0.86, 0.84], last)
    with session_scope() as session:
        session.add(Region(code=CITY, name="江城市", level="city"))
        session.flush()
        for district in (D1, D2):
            session.add(Region(code=district, name="区", level="district", parent_code=CITY))
            session.flush()
            session.add(
                Region(code=f"{district}001", name="街道", level="street", parent_code=district)
            )
            session.flush()
            session.add(
                Region(
                    code=f"{district}001001",
                    name="社区",
                    level="community",
                    parent_code=f"{district}001",
                )
            )
            session.flush()
        create_user(session, "official_d1", "official", PASSWORD, D1)
        create_user(session, "official_d2", "official", PASSWORD, D2)
        create_user(session, "official_city", "official", PASSWORD, CITY)
        raised, notified = service.raise_warnings(
            session, last, default_definitions(), today=date(2026, 6, 2)
        )
        assert [(w.region_code, w.indicator_id) for w in raised] == [
            (community, "diabetes_management_rate")
        ]
        # The district's and the city's officials, not the other district's.
        assert notified == 2
        to = session.scalars(
            select(OutboxMessage.recipient_id).where(OutboxMessage.template == "indicator_warning")
        ).all()
        officials = dict(session.execute(select(User.username, User.id)).all())
        assert sorted(to) == sorted([officials["official_d1"], officials["official_city"]])
    with session_scope() as session:
        again, _ = service.raise_warnings(
            session, last, default_definitions(), today=date(2026, 6, 2)
        )
        assert again == []  # the same series is not warned twice
        assert session.scalar(select(func.count()).select_from(IndicatorWarning)) == 1

    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        listed = client.get("/api/v1/indicators/warnings", headers=_bearer("official_d1"))
        assert listed.status_code == 200
        [warning] = listed.json()["items"]
        assert warning["value"] == pytest.approx(0.70) and warning["baseline"] == 0.85
        other = client.get("/api/v1/indicators/warnings", headers=_bearer("official_d2"))
        assert other.json()["items"] == []
        body = {
            "measure": "补充家庭医生团队人员，恢复糖尿病患者季度随访",
            "deadline": (city_today() + timedelta(days=30)).isoformat(),
            "department": "区卫生健康局基层卫生科",
        }
        url = f"/api/v1/indicators/warnings/{warning['id']}/rectify"
        refused = client.post(url, json=body, headers=_bearer("official_d2"))
        assert refused.status_code == 404
        done = client.post(url, json=body, headers=_bearer("official_d1"))
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "rectifying" and len(done.json()["items"]) == 1
        twice = client.post(url, json=body, headers=_bearer("official_d1"))
        assert twice.status_code == 409
        assert twice.headers["content-type"].startswith("application/problem+json")
        past = {**body, "deadline": "2020-01-01"}
        with session_scope() as session:
            w = session.get(IndicatorWarning, warning["id"])
            w.status = "open"
        assert client.post(url, json=past, headers=_bearer("official_d1")).status_code == 400
    with session_scope() as session:
        finding = session.scalar(select(Finding))
        assert finding.region_code == community and finding.source == "inspection"
        item = session.scalar(select(RectificationItem))
        assert item.finding_id == finding.id and item.department == body["department"]


def test_after_an_ingest_the_api_reads_fresh_values_within_the_jurisdiction_only(as_of):
    result = run_after_ingest(
        IngestEvent("survey"), session_scope, hooks=["carematch.indicators.service:after_ingest"]
    )
    summary = result["carematch.indicators.service:after_ingest"]
    assert "error" not in summary and summary["points"] > 0 and summary["months"] == 1
    month = Period.containing(city_today())
    assert summary["period"] == month.label
    assert len(_stored(month.label)) == summary["points"]
    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        mine = client.get("/api/v1/indicators", headers=_bearer("official_d1"))
        assert mine.status_code == 200
        body = mine.json()
        assert body["period"] == month.label
        assert {i["region_code"] for i in body["items"]} == {D1}
        point = next(i for i in body["items"] if i["indicator_id"] == "chronic_control_rate")
        assert point["status"] in ("green", "amber", "red") and point["target"] == 0.6
        assert point["value"] == pytest.approx(point["numerator"] / point["denominator"])
        # The composite per policy type weighs the district's lights by the indicators' weights.
        chronic = body["composites"][D1]["chronic"]
        lights = {i["indicator_id"]: i["status"] for i in body["items"]}
        weights = {
            iid: default_definitions()[iid].weights.get("chronic", 0)
            for iid, light in lights.items()
            if light in ("green", "amber", "red")
        }
        score = {"green": 1, "amber": 0.5, "red": 0}
        wanted = sum(w * score[lights[i]] for i, w in weights.items()) / sum(weights.values())
        assert chronic["score"] == pytest.approx(wanted, abs=1e-3)
        inside = client.get(
            "/api/v1/indicators",
            params={"subregions": "true", "disaggregation": "hukou"},
            headers=_bearer("official_d1"),
        ).json()["items"]
        assert inside and all(i["region_code"].startswith(D1) for i in inside)
        assert {i["group_key"] for i in inside} <= {"local", "migrant"}
        city = client.get(
            "/api/v1/indicators", params={"region": CITY}, headers=_bearer("official_city")
        )
        assert {i["region_code"] for i in city.json()["items"]} == {CITY}
        outside = client.get(
            "/api/v1/indicators", params={"region": D2}, headers=_bearer("official_d1")
        )
        assert outside.status_code == 403
        resident = client.get("/api/v1/indicators", headers=_bearer("resident_x"))
        assert resident.status_code == 403
        bad = client.get(
            "/api/v1/indicators", params={"disaggregation": "x"}, headers=_bearer("official_d1")
        )
        assert bad.status_code == 400
        for url, params in (
            ("/api/v1/indicators", {"period": "2026-13"}),
            ("/api/v1/indicators/warnings", {"status": "forgotten"}),
            ("/api/v1/indicators/chronic_control_rate/series", {"since": "June"}),
        ):
            refused = client.get(url, params=params, headers=_bearer("official_d1"))
            assert refused.status_code == 400, url
            assert refused.headers["content-type"].startswith("application/problem+json")
        series = client.get(
            "/api/v1/indicators/chronic_control_rate/series", headers=_bearer("official_d1")
        )
        assert series.status_code == 200
        assert [p["period"] for p in series.json()["items"]] == [month.label]
        missing = client.get("/api/v1/indicators/nope/series", headers=_bearer("official_d1"))
        assert missing.status_code == 404


def _diff() -> list:
    import_all_models()
    with get_engine().connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    return [d for d in found if any(table in repr(d) for table in TABLES)]


def test_upgraded_database_matches_the_models_and_0023_downgrades(env):
    assert set(inspect(get_engine()).get_table_names()) >= TABLES
    assert _diff() == []
    config = alembic_config()
    command.downgrade(config, "0022")
    assert not TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert _diff() == []


def test_the_cli_refreshes_months_and_lists_values_and_warnings(
    sqlite_env, city: Path, monkeypatch: pytest.MonkeyPatch
):
    from typer.testing import CliRunner

    from carematch.cli import app

    day = date.fromisoformat(json.loads((city / "manifest.json").read_text())["as_of"])
    with session_scope() as session:
        load_regions(session, city / "regions.csv")
        for source in SOURCES:
            ingest_file(session, source, city / f"{source}.csv")
        build_persons_exact(session)
    runner = CliRunner()
    refreshed = runner.invoke(
        app, ["indicators", "refresh", "--period", "2026-06", "--months", "2", "--no-notify"]
    )
    assert refreshed.exit_code == 0, refreshed.stderr
    summaries = [json.loads(line) for line in refreshed.stdout.splitlines()]
    assert [s["period"] for s in summaries] == ["2026-05", "2026-06"]
    assert summaries[1]["as_of"] == day.isoformat() and summaries[1]["points"] > 0
    listed = runner.invoke(app, ["indicators", "list", "--region", D1, "--period", "2026-05"])
    assert listed.exit_code == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert rows and {r["region_code"] for r in rows} == {D1}
    assert {r["period"] for r in rows} == {"2026-05"}
    bad = runner.invoke(app, ["indicators", "list", "--disaggregation", "religion"])
    assert bad.exit_code == 2 and "disaggregation" in bad.stderr
    warned = runner.invoke(app, ["indicators", "warnings"])
    assert warned.exit_code == 0 and "warning(s)" in warned.stderr
    # After a whole city is loaded, the hook computes the months before too, for a series.
    monkeypatch.setattr(service, "MONTHS_ON_FULL_LOAD", 3)
    loaded = run_after_ingest(
        IngestEvent("*", full_load=True),
        session_scope,
        hooks=["carematch.indicators.service:after_ingest"],
    )["carematch.indicators.service:after_ingest"]
    assert loaded["months"] == 3
    with session_scope() as session:
        periods = set(session.scalars(select(IndicatorValue.period).distinct()))
    month = Period.containing(city_today())
    assert {month.label, month.previous().label, month.previous().previous().label} <= periods
