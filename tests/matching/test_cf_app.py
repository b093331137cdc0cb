"""Collaborative filtering in the app: trained from service records, stored, blended per person.

The world: two co-located clinics A and B (same point, price, hours and wait, so every other
objective ties and A comes first by id), and two residents whose visit histories point opposite
ways: P keeps going to B (rated 5), Q keeps going to A (rated 5). Both clinics end up with the
same ratings and visit counts, so nothing but the personal history can tell them apart.

(Implicit ALS reads any use of a clinic as preference 1, the visit count and rating only as
confidence: a person who used both clinics prefers both, so the histories here keep to one.)
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from carematch.api.app import create_app
from carematch.booking.models import Rating, ServiceRecord
from carematch.cli import app
from carematch.core.db import session_scope
from carematch.core.ids import new_id
from carematch.core.models import Region
from carematch.identity.models import Person
from carematch.matching import cf_store
from carematch.matching.cf import ALSParams, CollaborativeFilter, Interactions
from carematch.matching.service import recommend_at, recommend_for_person
from carematch.providers.models import Provider, ProviderHours, ProviderService
from carematch.security.authz import Principal
from carematch.security.models import User
from carematch.security.tokens import issue_token
from tests.fixtures.people import D1, D2

SERVICE = "chronic_followup"
A, B = "PRV-A", "PRV-B"
SITE = (23.13, 113.31)
FAST = ["--factors", "2", "--iterations", "8"]
ADMIN = Principal("u-admin", "admin1", "admin", None)
START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
CF_LINE = "often chosen by people like you"

runner = CliRunner()


def english(message: str) -> str:
    return message


def build_world() -> tuple[str, str]:
    """Two persons (P in D1, Q in D2) with located communities, a doctor in D1, clinics A, B.

    Inserted directly (no ingest, no password hashing): matching reads only ids and places.
    """
    p, q = "PERSON-P", "PERSON-Q"
    with session_scope() as session:
        for district, centre in ((D1, (23.12, 113.30)), (D2, (23.14, 113.32))):
            session.add(Region(code=district, name=district, level="district"))
            session.flush()
            session.add(
                Region(
                    code=f"{district}001001",
                    name="社区",
                    level="community",
                    parent_code=district,
                    lat=centre[0],
                    lon=centre[1],
                )
            )
        session.flush()
        session.add_all(
            [
                Person(id=p, community_code=f"{D1}001001", record_count=0),
                Person(id=q, community_code=f"{D2}001001", record_count=0),
                User(
                    id="U-DOCTOR",
                    username="doctor_d1",
                    password_hash="!",
                    role="doctor",
                    region_code=D1,
                ),
            ]
        )
        for pid in (A, B):
            session.add(
                Provider(id=pid, name=pid, kind="clinic", lat=SITE[0], lon=SITE[1], region_code=D1)
            )
            session.flush()
            session.add(
                ProviderService(
                    provider_id=pid,
                    service_code=SERVICE,
                    daily_capacity=20,
                    price=Decimal(10),
                    wait_days=0,
                )
            )
            for weekday in range(1, 8):
                session.add(
                    ProviderHours(provider_id=pid, weekday=weekday, opens="00:00", closes="24:00")
                )
    return p, q


def visit(person: str, provider: str, day: int, score: int | None = None) -> None:
    """One service record (and its rating) ``day`` days after START."""
    at = START + timedelta(days=day)
    with session_scope() as session:
        record = ServiceRecord(
            id=new_id(),
            person_id=person,
            provider_id=provider,
            service=SERVICE,
            performed_at=at,
            summary="随访",
            outcome="resolved",
            recorded_by="doctor_d1",
        )
        session.add(record)
        session.flush()
        if score is not None:
            session.add(
                Rating(
                    id=new_id(),
                    service_record_id=record.id,
                    person_id=person,
                    provider_id=provider,
                    service=SERVICE,
                    visit_month=at.strftime("%Y-%m"),
                    score=score,
                    rated_by="resident1",
                )
            )


def histories(p: str, q: str) -> None:
    """P goes to B three times and rates it 5; Q does the same at A."""
    for day in (10, 20, 30):
        visit(p, B, day, 5)
        visit(q, A, day, 5)


def ranked(person: str) -> list[tuple[str, float, str]]:
    """The person's providers for the service: (id, CF score, reason), best first."""
    with session_scope() as session:
        recs = recommend_for_person(
            session, ADMIN, person, gettext=english, service=SERVICE, at=START + timedelta(days=40)
        )
    return [(c.provider_id, c.scores["cf"], c.reason) for c in recs.services[0].choices]


def train() -> dict:
    result = runner.invoke(app, ["match", "cf-train", *FAST])
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def test_a_person_who_keeps_choosing_b_gets_b_first_once_trained(sqlite_env):
    p, q = build_world()
    histories(p, q)

    before_p, before_q = ranked(p), ranked(q)
    # Untrained: every objective ties, the id decides, no CF anywhere.
    assert [c[0] for c in before_p] == [A, B] == [c[0] for c in before_q]
    assert all(c[1] == 0 and CF_LINE not in c[2] for c in before_p + before_q)

    train()
    after_p, after_q = ranked(p), ranked(q)

    assert [c[0] for c in after_p] == [B, A]
    assert [c[0] for c in after_q] == [A, B]  # personal, not popularity: the mirror ranks A
    top_p = after_p[0]
    assert top_p[1] > after_p[1][1] and CF_LINE in top_p[2]
    # The public query from a point has no person, so the model never enters it.
    with session_scope() as session:
        public = recommend_at(session, SERVICE, *SITE, gettext=english)
    assert [c.provider_id for c in public.choices] == [A, B]
    assert all(c.scores["cf"] == 0 and CF_LINE not in c.reason for c in public.choices)


def test_cli_reports_one_json_line_and_the_same_data_gives_the_same_model(env):
    # On both backends: PostgreSQL hands back aware visit times, SQLite naive UTC ones.
    p, q = build_world()
    histories(p, q)

    first = train()
    second = train()

    assert (first["persons"], first["items"], first["visits"], first["rated"]) == (2, 2, 6, 6)
    # Each person's last visit is held out; with two clinics both are in any top 5.
    assert first["evaluated_visits"] == 2
    assert first["hit_rate_cf"] == first["hit_rate_popularity"] == 1.0
    assert first["params"]["factors"] == 2 and first["params"]["iterations"] == 8
    assert first["sha256"] == second["sha256"]
    assert first["model"] != second["model"]
    models = env.data_dir / "models"
    manifest = json.loads((models / "cf.json").read_text())
    assert models / manifest["model"] == Path(second["model"])
    with np.load(first["model"]) as a, np.load(second["model"]) as b:
        assert np.array_equal(a["user_factors"], b["user_factors"])
    assert not list(models.glob(".*")), "no temporary file is left behind"


def test_cli_without_records_says_so_and_writes_nothing(sqlite_env):
    bad = runner.invoke(app, ["match", "cf-train", "--alpha", "0"])
    assert bad.exit_code == 2 and "alpha" in bad.output

    result = runner.invoke(app, ["match", "cf-train"])

    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["visits"] == 0 and line["model"] is None
    assert "no service records" in line["message"]
    assert not (sqlite_env.data_dir / "models").exists()


def test_the_app_picks_up_a_retrained_model_and_prunes_old_files(sqlite_env):
    p, q = build_world()
    for day in (10, 20, 30):
        visit(q, A, day)
    visit(q, B, 40)
    train()
    # P has no visit yet: the model's cold start (popularity) scores A, which Q uses most.
    first = ranked(p)
    assert first[0][0] == A and first[0][1] > first[1][1] > 0

    for day in (50, 60, 70):
        visit(p, B, day, 5)
    for _ in range(cf_store.KEEP):
        train()

    # Same process, no restart: the new manifest was noticed and P's own history now counts.
    assert ranked(p)[0][0] == B
    assert len(list((sqlite_env.data_dir / "models").glob("cf-*.npz"))) == cf_store.KEEP


def test_an_unreadable_model_means_no_cf_and_a_warning_never_a_500(sqlite_env, caplog):
    p, q = build_world()
    histories(p, q)
    models = sqlite_env.data_dir / "models"
    access, _ = issue_token("U-DOCTOR", "doctor", D1)

    for damage in ("garbage model", "missing model", "garbage manifest"):
        caplog.clear()
        train()
        assert ranked(p)[0][0] == B, "a sound model first"
        model = models / json.loads((models / "cf.json").read_text())["model"]
        if damage == "garbage model":
            model.write_bytes(b"not a model")
        elif damage == "missing model":
            model.unlink()
        # The manifest is rewritten each time: a changed manifest is what triggers a reload.
        manifest = (models / "cf.json").read_text()
        (models / "cf.json").write_text("{" if damage == "garbage manifest" else manifest + " ")

        with caplog.at_level(logging.WARNING, logger="carematch.matching.cf_store"):
            assert [c[0] for c in ranked(p)] == [A, B], damage
            with TestClient(create_app()) as c:
                response = c.get(
                    f"/api/v1/persons/{p}/recommendations",
                    params={"service": SERVICE},
                    headers={"Authorization": f"Bearer {access}"},
                )
        assert response.status_code == 200, (damage, response.text)
        choices = response.json()["services"][0]["choices"]
        assert [x["provider_id"] for x in choices] == [A, B], damage
        warnings = [r for r in caplog.records if "collaborative filtering off" in r.getMessage()]
        assert len(warnings) == 1, f"{damage}: warned once for this manifest, not per request"


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    visits=st.lists(
        st.tuples(
            st.sampled_from(["p1", "p2", "p3", "p4"]),
            st.sampled_from(["X|s1", "Y|s1", "Z|s2"]),
            st.integers(0, 60),
            st.one_of(st.none(), st.integers(1, 5)),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_a_stored_model_scores_exactly_as_the_fitted_one(tmp_path_factory, visits):
    rows = [(p, i, date(2026, 1, 1) + timedelta(days=d), r) for p, i, d, r in visits]
    interactions = Interactions.from_rows(rows)
    model = CollaborativeFilter.fit(interactions, ALSParams(factors=2, iterations=3))
    data_dir = tmp_path_factory.mktemp("store")

    cf_store.save(model, interactions, data_dir=data_dir)
    stored = cf_store.load(data_dir / cf_store.MODELS_DIR)

    assert stored is not None
    items = ["X|s1", "Y|s1", "Z|s2", "W|s1"]  # W: never used, scores 0
    for person in ["p1", "p2", "p3", "p4", "newcomer"]:
        assert np.array_equal(stored.model.scores(person, items), model.scores(person, items))
