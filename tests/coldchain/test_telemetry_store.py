"""Telemetry import: rejected rows kept with their reason, alarms stored once, exposed lots made
suspect with one logged event; and the recall list is exactly the people dosed from them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from carematch.cli import app
from carematch.coldchain import repository, service
from carematch.coldchain.models import ColdChainAlarm, RejectedReading
from carematch.core.db import session_scope
from carematch.vaccination import administration
from tests.coldchain.world import add_lot, bearer, build_world, principal

runner = CliRunner()
T0 = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def _csv(tmp_path, name: str = "loggers.csv"):
    """FRIDGE-A is at 5 °C, then 9.5 °C for 11 hours from T0+3h, then 5 °C again; FRIDGE-B
    stays at 5 °C. Three rows are broken."""
    lines = ["device_id,at,celsius"]
    for step in range(36):  # every 30 minutes for 18 hours from T0+1h
        at = T0 + timedelta(hours=1, minutes=30 * step)
        hot = T0 + timedelta(hours=3) <= at < T0 + timedelta(hours=14)
        lines.append(f"FRIDGE-A,{at.isoformat()},{9.5 if hot else 5.0}")
        lines.append(f"FRIDGE-B,{at.isoformat()},5.0")
    lines += [
        "FRIDGE-A,2026-01-01T00:00:00,4.0",  # no UTC offset
        f"FRIDGE-A,{T0.isoformat()},warm",  # not a number
        f"bad device!,{T0.isoformat()},4.0",  # not a device id
    ]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def world(sqlite_env, tmp_path):
    world = build_world(tmp_path)
    with session_scope() as session:
        exposed = add_lot(session, lot_number="L-EXPOSED", location="FRIDGE-A", received_at=T0)
        safe = add_lot(session, lot_number="L-SAFE", location="FRIDGE-B", received_at=T0)
        who = principal(session, "vaccinator_d1")
        doses = [
            ("a", exposed.id, T0 + timedelta(hours=2)),  # before the excursion began
            ("b", exposed.id, T0 + timedelta(hours=6)),  # during it
            ("c", safe.id, T0 + timedelta(hours=6)),  # another lot
        ]
        for key, lot_id, at in doses:
            administration.record_administration(
                session,
                who,
                person_id=world.persons[key],
                lot_id=lot_id,
                series="HepB",
                dose_number=1,
                site="right_thigh",
                administered_at=at,
            )
    world.lots = {"exposed": exposed.id, "safe": safe.id}  # type: ignore[attr-defined]
    return world


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return (
            repository.log_size(session),
            session.scalar(select(func.count()).select_from(ColdChainAlarm)) or 0,
            session.scalar(select(func.count()).select_from(RejectedReading)) or 0,
        )


def test_import_rejects_bad_rows_raises_the_heat_alarm_and_marks_only_the_lot_inside(
    world, tmp_path
):
    path = _csv(tmp_path)
    first = runner.invoke(app, ["coldchain", "telemetry", "import", str(path)])
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout)
    assert result["stored"] == 72
    assert sorted(r["reason"].split(" ")[0] for r in result["rejected"]) == [
        "at",
        "celsius",
        "device_id",
    ]
    assert result["new_suspect_lots"] == [world.lots["exposed"]]
    with session_scope() as session:
        alarms = repository.alarms(session, device_id=None, limit=10, offset=0)[1]
        assert [(a.device_id, a.kind) for a in alarms] == [("FRIDGE-A", "heat")]
        assert repository.aware(alarms[0].since) == T0 + timedelta(hours=3)
        assert repository.get_lot(session, world.lots["exposed"]).status == "suspect"
        assert repository.get_lot(session, world.lots["safe"]).status == "usable"
        suspect = [e for e in repository.events(session) if e.kind == "suspect"]
        assert [e.lot_id for e in suspect] == [world.lots["exposed"]]
    before = _counts()

    again = runner.invoke(app, ["coldchain", "telemetry", "import", str(path)])
    assert again.exit_code == 0, again.output
    second = json.loads(again.stdout)
    assert second["stored"] == 0 and second["duplicates"] == 72
    assert second["new_alarms"] == [] and second["new_suspect_lots"] == []
    assert _counts() == before  # no second alarm, suspect event or rejected row

    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        kept = client.get("/api/v1/coldchain/telemetry/rejected", headers=bearer("doctor_d1"))
    assert sorted(r["line"] for r in kept.json()["items"]) == sorted(
        r["line"] for r in result["rejected"]
    )


def test_recall_list_is_exactly_the_people_dosed_from_the_exposed_lot(world, tmp_path):
    runner.invoke(app, ["coldchain", "telemetry", "import", str(_csv(tmp_path))])
    with session_scope() as session:
        alarm_id = repository.alarms(session, device_id="FRIDGE-A", limit=1, offset=0)[1][0].id
    out = runner.invoke(app, ["coldchain", "recall", "--alarm", alarm_id])
    assert out.exit_code == 0, out.output
    recall = json.loads(out.stdout)
    assert set(recall["persons"]) == {world.persons["a"], world.persons["b"]}
    after = {d["person_id"]: d["after_exposure"] for d in recall["doses"]}
    assert after == {world.persons["a"]: False, world.persons["b"]: True}

    from carematch.api.app import create_app

    with TestClient(create_app()) as client:
        by_lot = client.get(
            f"/api/v1/coldchain/lots/{world.lots['exposed']}/recall-list",
            headers=bearer("official_d1"),
        )
        assert by_lot.status_code == 200
        assert set(by_lot.json()["persons"]) == {world.persons["a"], world.persons["b"]}
        # A suspect lot gives no more doses.
        refused = client.post(
            "/api/v1/vaccination/administrations",
            headers=bearer("vaccinator_d1"),
            json={
                "person_id": world.persons["c"],
                "lot_id": world.lots["exposed"],
                "series": "HepB",
                "dose_number": 2,
                "site": "left_thigh",
            },
        )
        assert refused.status_code == 409
        assert "suspect" in refused.json()["detail"]
    with session_scope() as session:
        assert service.verify_log(session).ok
