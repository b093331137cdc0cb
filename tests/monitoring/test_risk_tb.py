"""High-risk identification on a seeded synthetic city, and TB case-management rates."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert, select
from typer.testing import CliRunner

from carematch.cli import app
from carematch.core.db import session_scope
from carematch.identity.service import build_persons_exact, ingest_file
from carematch.monitoring import risk, service, tb
from carematch.monitoring.errors import RiskModelMissing, UnknownCombination
from carematch.security.models import AuditEntry, User
from tests.familydoctor.conftest import EHR_HEADER, bearer, build_world, principal
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

runner = CliRunner()


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("city") / "city"
    result = runner.invoke(
        app, ["generate", "--residents", "4000", "--seed", "11", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def training(city_dir):
    return risk.city_training_table(city_dir)


def test_the_model_separates_and_is_calibrated_on_held_out_persons(training):
    model = risk.train(training, "hypertension+diabetes", seed=3)
    report = model.report

    assert report.positives_test >= 20
    assert report.auc >= 0.85  # chance is 0.5
    # The readings add to what demographics alone can tell (same split, same run).
    assert report.auc > report.auc_demographics_only
    assert report.brier < report.brier_baseline
    assert report.calibration_error <= 0.03
    assert abs(report.mean_predicted - report.observed_rate) <= 0.02
    assert sum(b.count for b in report.bins) == report.test


def test_another_combination_is_learned_too(training):
    report = risk.train(training, "hypertension+hyperlipidemia", seed=3).report
    assert report.auc >= 0.75


def test_contributions_are_the_largest_positive_terms_of_the_log_odds(training):
    model = risk.train(training, "hypertension+diabetes", seed=0)
    sample = training.slice(0, 200)
    scored = risk.score(model, sample, top_features=3)
    pipeline = model.pipeline
    frame = risk._frame(sample)
    z = pipeline.named_steps["scale"].transform(pipeline.named_steps["encode"].transform(frame))
    terms = z * pipeline.named_steps["model"].coef_[0]
    intercept = pipeline.named_steps["model"].intercept_[0]
    for i, person in enumerate(scored):
        # the terms and the intercept are the person's log-odds exactly
        logit = math.log(person.risk / (1 - person.risk))
        assert terms[i].sum() + intercept == pytest.approx(logit, abs=1e-6)
        shown = [c.contribution for c in person.contributions]
        assert shown == sorted(shown, reverse=True)
        assert all(c > 0 for c in shown)
        for c in person.contributions:
            if c.feature.startswith("missingindicator_"):
                value = frame.iloc[i][c.feature.removeprefix("missingindicator_")]
                assert c.value == ("not measured" if math.isnan(value) else "measured")
        assert shown[:1] == [round(float(np.max(terms[i])), 4)][: len(shown[:1])]


def test_unknown_combination_is_refused(training):
    with pytest.raises(KeyError):
        risk.train(training, "tb+hiv")


def test_risk_train_cli_prints_the_figures_and_keeps_the_model(city_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CAREMATCH_DATA_DIR", str(tmp_path))
    result = runner.invoke(
        app,
        [
            "monitoring",
            "risk-train",
            "--city",
            str(city_dir),
            "--combination",
            "hypertension+diabetes",
        ],
    )
    assert result.exit_code == 0, result.stderr
    line = json.loads(result.stdout)
    assert set(line) >= {"auc", "brier", "calibration_error", "bins", "auc_demographics_only"}
    assert line["auc"] >= 0.85
    assert (tmp_path / "models" / "monitoring-risk-hypertension+diabetes.pkl").is_file()
    bad = runner.invoke(
        app, ["monitoring", "risk-train", "--city", str(tmp_path), "--combination", "x+y"]
    )
    assert bad.exit_code == 2 and "unknown combination" in bad.stderr


def test_top_risk_list_is_scoped_audited_and_leaves_known_patients_out(
    env, city_dir, tmp_path, client
):
    world = build_world(tmp_path)
    # Before a model is trained the list is a clear 404.
    with session_scope() as session, pytest.raises(RiskModelMissing):
        service.top_risk(session, None, "hypertension+diabetes")
    service.train_risk(city_dir, "hypertension+diabetes", seed=0)
    with session_scope() as session:
        official = principal(session, "official_d1")
        listed = service.top_risk(session, official, "hypertension+diabetes")
        with_known = service.top_risk(
            session, official, "hypertension+diabetes", include_known=True
        )
        with pytest.raises(UnknownCombination):
            service.top_risk(session, official, "tb+hiv")
    ids = [e.person_id for e in listed]
    # District 1 only; world.ht already has both conditions: listed only on request.
    assert set(ids) == {world.young, world.other_street}
    assert world.ht in [e.person_id for e in with_known]
    assert [e.risk for e in with_known] == sorted((e.risk for e in with_known), reverse=True)
    with session_scope() as session:
        assert "read_risk_list" in set(session.scalars(select(AuditEntry.action)))

    answer = client.get(
        "/api/v1/monitoring/risk/top",
        params={"combination": "hypertension+diabetes"},
        headers=bearer("doctor_d2"),
    )
    assert answer.status_code == 200
    # district 2 holds one person, with hypertension alone: not known to have the pair
    assert [e["person_id"] for e in answer.json()] == [world.d2]
    assert answer.json()[0]["contributions"]
    assert (
        client.get(
            "/api/v1/monitoring/risk/top",
            params={"combination": "x+y"},
            headers=bearer("doctor_d2"),
        ).status_code
        == 422
    )
    assert client.get("/api/v1/monitoring/risk/top", headers=bearer("grid_d1")).status_code == 403


# --- TB case management ----------------------------------------------------------------------


def test_tb_rates_engine_against_a_hand_count():
    cases = [("A", "migrant"), ("B", "migrant"), ("C", "migrant"), ("D", "local"), ("E", None)]
    visits = [
        ("A", date(2026, 1, 5)),
        ("A", date(2026, 7, 1)),  # 177 days: a completed course
        ("B", date(2026, 2, 1)),
        ("B", date(2026, 7, 1)),  # 150 days: managed, not completed
        ("D", date(2026, 1, 1)),
        ("D", date(2026, 6, 18)),  # exactly 168 days: completed
        ("X", date(2026, 1, 1)),  # not a case
    ]
    rates = tb.tb_rates(cases, visits)
    assert (rates["migrant"].cases, rates["migrant"].managed, rates["migrant"].completed) == (
        3,
        2,
        1,
    )
    assert (rates["local"].cases, rates["local"].managed, rates["local"].completed) == (2, 1, 1)
    assert rates["migrant"].managed_rate == pytest.approx(2 / 3)
    assert rates["local"].completed_rate == 0.5
    assert tb.tb_rates([], [])["local"].managed_rate is None


def _tb_world(tmp: Path) -> dict[str, str]:
    """Five TB cases and one person without TB, ingested through police and EHR extracts."""
    from carematch.booking.models import ServiceRecord
    from carematch.identity.models import Person
    from carematch.providers.models import Provider

    community = "449901001001"
    people = {  # key → (hukou, conditions)
        "m1": ("migrant", "tb"),
        "m2": ("migrant", "tb"),
        "m3": ("migrant", "tb"),
        "l1": ("local", "tb;hypertension"),
        "l2": ("local", "tb"),
        "none": ("migrant", ""),
    }
    police, ehr = [], []
    for i, (hukou, conditions) in enumerate(people.values(), start=1):
        born = date(1980, 1, i)
        id_number = make_id(community[:6], born, 10 + 2 * i + 1, "M")
        police.append(
            police_row(f"P{i}", f"人{i}", id_number, community, hukou=hukou, born=born.isoformat())
        )
        ehr.append(
            f"E{i},人{i},{id_number},M,{born.isoformat()},,,{community},{conditions},,,,,,false,false,0,false"
        )
    write_extract(tmp / "police.csv", POLICE_HEADER, police)
    write_extract(tmp / "ehr.csv", EHR_HEADER, ehr)
    with session_scope() as session:
        ingest_file(session, "police", tmp / "police.csv")
        ingest_file(session, "ehr", tmp / "ehr.csv")
        build_persons_exact(session)
        by_day = {p.birth_date.day: p.id for p in session.scalars(select(Person))}
        by_key = {key: by_day[i] for i, key in enumerate(people, start=1)}
        session.add(
            Provider(
                id="PRVTB", name="结防所", kind="cdc", region_code=community, lat=23.1, lon=113.3
            )
        )
        session.flush()
        visits = [
            ("m1", "2026-01-05"),
            ("m1", "2026-07-01"),  # completed
            ("m2", "2026-02-01"),  # managed
            ("l1", "2026-01-01"),
            ("l1", "2026-06-18"),  # completed
            ("l2", "2026-03-01"),  # managed
            ("none", "2026-03-01"),  # screened, not a case
            ("m3", "2025-06-01"),  # before the window: m3 is not managed in it
        ]
        for n, (key, day) in enumerate(visits):
            session.add(
                ServiceRecord(
                    id=f"SR{n}",
                    person_id=by_key[key],
                    provider_id="PRVTB",
                    service="tb_screening",
                    region_code=community,
                    performed_at=datetime.fromisoformat(day).replace(hour=2, tzinfo=UTC),
                    summary="x",
                    outcome="follow_up",
                    recorded_by="doctor",
                )
            )
    return by_key


def test_tb_case_management_from_records_equals_a_hand_count(env, tmp_path, client):
    _tb_world(tmp_path)
    with session_scope() as session:
        rates = service.tb_case_management(
            session, None, start=date(2026, 1, 1), end=date(2026, 12, 31)
        )
    # by hand: migrants m1 (completed), m2 (managed), m3 (no visit in the window); locals l1
    # (completed), l2 (managed); "none" has no TB and does not count.
    assert (rates["migrant"].cases, rates["migrant"].managed, rates["migrant"].completed) == (
        3,
        2,
        1,
    )
    assert (rates["local"].cases, rates["local"].managed, rates["local"].completed) == (2, 2, 1)

    with session_scope() as session:
        session.execute(
            insert(User),
            [
                {
                    "id": "UOFF1",
                    "username": "off1",
                    "password_hash": "!",
                    "role": "official",
                    "region_code": "449901",
                    "active": True,
                },
                {
                    "id": "UOFF2",
                    "username": "off2",
                    "password_hash": "!",
                    "role": "official",
                    "region_code": "449902",
                    "active": True,
                },
            ],
        )
    params = {"start": "2026-01-01", "end": "2026-12-31"}
    mine = client.get("/api/v1/monitoring/tb", params=params, headers=bearer("off1")).json()
    assert [(r["group"], r["cases"], r["managed"], r["completed"]) for r in mine] == [
        ("migrant", 3, 2, 1),
        ("local", 2, 2, 1),
    ]
    other = client.get("/api/v1/monitoring/tb", params=params, headers=bearer("off2")).json()
    assert [r["cases"] for r in other] == [0, 0]
