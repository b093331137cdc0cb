"""Profiling use cases on SQLite and PostgreSQL: demands kept, closed, served; encrypted reasons.

Each test loads a small generated city (generated once per module) into a fresh installation:
every extract ingested, persons linked exactly on their ID numbers (the deterministic linker,
fast and stable), then profiles built as of the city's reference date.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from carematch.core.db import dispose_engines, session_scope
from carematch.identity.service import (
    build_persons_exact,
    golden_records,
    ingest_file,
    linked_records,
)
from carematch.profiling import extracts
from carematch.profiling.errors import DemandNotFound, DemandStateConflict
from carematch.profiling.features import compute_features, persons_table
from carematch.profiling.models import Demand
from carematch.profiling.service import (
    build_profiles,
    demand_id,
    features_for,
    list_demands,
    mark_served,
    person_profile,
)
from carematch.profiling.tags import (
    TagLibrary,
    default_library,
    evaluate_batch,
    load_library,
    service_codes,
)
from carematch.security.authz import Principal
from carematch.synth import generate_city
from tests.profiling.conftest import count_overdue

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")
ADMIN = Principal("u-admin", "admin1", "admin", None)


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("profiling-service") / "city"
    generate_city(residents=400, seed=4004, out=path)
    return path


@pytest.fixture(scope="module")
def as_of(city: Path) -> date:
    return date.fromisoformat(json.loads((city / "manifest.json").read_text())["as_of"])


def load(session: Session, city: Path) -> None:
    for source in SOURCES:
        ingest_file(session, source, city / f"{source}.csv")
    build_persons_exact(session)
    session.commit()


@pytest.fixture
def loaded(session: Session, city: Path) -> Session:
    load(session, city)
    return session


def library_without(tmp_path: Path, *tag_ids: str) -> TagLibrary:
    """The shipped library less some tags."""
    shipped = resources.files("carematch.profiling").joinpath("tags.yaml").read_text("utf-8")
    data = yaml.safe_load(shipped)
    data["tags"] = [t for t in data["tags"] if t["id"] not in tag_ids]
    path = tmp_path / "tags.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_library(path, service_codes())


def demands(session: Session) -> dict[str, Demand]:
    return {d.id: d for d in session.scalars(select(Demand))}


def test_rebuilding_opens_and_closes_nothing_and_never_duplicates(loaded: Session, as_of: date):
    library = default_library()
    first = build_profiles(loaded, as_of)
    loaded.commit()
    # One demand per service of every tag instance.
    expected = sum(n * len(library.tags[tag].services) for tag, n in first.by_tag.items())
    assert first.opened == expected > 300
    assert (first.kept, first.closed) == (0, 0)

    second = build_profiles(loaded, as_of)
    loaded.commit()
    assert (second.opened, second.closed, second.kept) == (0, 0, first.opened)
    assert second.by_tag == first.by_tag
    rows = list(demands(loaded).values())
    assert len(rows) == first.opened
    assert len({(d.person_id, d.tag, d.service) for d in rows}) == len(rows)
    assert {d.status for d in rows} == {"open"}
    assert all(d.id == demand_id(d.person_id, d.tag, d.service) for d in rows)


def test_demands_of_a_tag_that_no_longer_holds_close_and_open_again_when_it_holds(
    loaded: Session, as_of: date, tmp_path: Path
):
    build_profiles(loaded, as_of)
    loaded.commit()
    before = demands(loaded)
    gone = {did for did, d in before.items() if d.tag == "women_cancer_screening"}
    assert len(gone) > 20

    fewer = library_without(tmp_path, "women_cancer_screening")
    summary = build_profiles(loaded, as_of, library=fewer)
    loaded.commit()
    assert (summary.opened, summary.closed) == (0, len(gone))
    after = demands(loaded)
    assert {did for did, d in after.items() if d.status == "closed"} == gone
    assert {after[did].closed_reason for did in gone} == {"no_longer_applies"}

    back = build_profiles(loaded, as_of)
    loaded.commit()
    assert (back.opened, back.closed) == (len(gone), 0)
    assert {d.status for d in demands(loaded).values()} == {"open"}
    assert len(demands(loaded)) == len(before)


def test_a_changed_record_closes_the_demands_its_tag_raised(
    loaded: Session, city: Path, as_of: date, tmp_path: Path
):
    build_profiles(loaded, as_of)
    loaded.commit()
    pregnancy = {"prenatal_care", "migrant_pregnant_settlement"}  # the tags reading is_pregnant
    raised = {did for did, d in demands(loaded).items() if d.tag in pregnancy}
    assert raised

    # The EHR now says nobody is pregnant (a corrected extract, re-ingested in place).
    with (city / "ehr.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    changed = sum(row["is_pregnant"] == "true" for row in rows)
    for row in rows:
        row["is_pregnant"] = "false"
    path = tmp_path / "ehr.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert ingest_file(loaded, "ehr", path).updated == changed

    summary = build_profiles(loaded, as_of)
    loaded.commit()
    assert (summary.opened, summary.closed) == (0, len(raised))
    closed = {did for did, d in demands(loaded).items() if d.status == "closed"}
    assert closed == raised


def test_a_served_demand_stays_served(loaded: Session, as_of: date, tmp_path: Path):
    build_profiles(loaded, as_of)
    loaded.commit()
    target = next(d for d in demands(loaded).values() if d.tag == "elderly_checkup")
    assert mark_served(loaded, target.id).status == "served"
    assert mark_served(loaded, target.id).status == "served"  # once served, it stays so
    loaded.commit()

    rerun = build_profiles(loaded, as_of)
    loaded.commit()
    assert (rerun.opened, rerun.closed) == (0, 0)
    assert loaded.get(Demand, target.id).status == "served"

    without = build_profiles(loaded, as_of, library=library_without(tmp_path, "elderly_checkup"))
    loaded.commit()
    elderly = [d for d in demands(loaded).values() if d.tag == "elderly_checkup"]
    assert without.closed == len(elderly) - 1
    assert loaded.get(Demand, target.id).status == "served"

    back = build_profiles(loaded, as_of)
    loaded.commit()
    assert back.opened == len(elderly) - 1
    assert loaded.get(Demand, target.id).status == "served"


def test_only_an_open_demand_can_be_served(loaded: Session, as_of: date, tmp_path: Path):
    build_profiles(loaded, as_of)
    build_profiles(loaded, as_of, library=library_without(tmp_path, "elderly_checkup"))
    closed = next(d for d in demands(loaded).values() if d.status == "closed")
    with pytest.raises(DemandStateConflict):
        mark_served(loaded, closed.id)
    with pytest.raises(DemandNotFound):
        mark_served(loaded, "D-no-such-demand")


def test_the_database_path_equals_the_columnar_path(loaded: Session, city: Path, as_of: date):
    """Ingested, encrypted records give the same features as the extracts read columnar."""
    mapping = pa.Table.from_pylist(
        [
            {"source": r.source, "record_id": r.record_id, "person_id": r.person_id}
            for r in linked_records(loaded)
        ]
    )
    _, sources = extracts.read_city(city, mapping)
    persons = persons_table(list(golden_records(loaded)))
    columnar = compute_features(persons, sources, as_of, count_overdue).to_pylist()
    stored = features_for(loaded, None, as_of).to_pylist()
    assert len(stored) > 350
    assert stored == columnar


def test_a_persons_page_equals_the_batch(loaded: Session, as_of: date):
    batch = features_for(loaded, None, as_of)
    rows = {row["person_id"]: row for row in batch.to_pylist()}
    instances = evaluate_batch(batch, default_library(), as_of)
    poverty = [r for r in linked_records(loaded) if r.source == "poverty"]
    households = Counter(r.values.get("household_id") for r in poverty)
    shared = [r.person_id for r in poverty if households[r.values.get("household_id")] > 1]
    assert shared
    for pid in [*shared[:4], *sorted(rows)[:4]]:
        profile = person_profile(loaded, ADMIN, pid, as_of)
        expected = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in rows[pid].items()}
        assert profile.features == expected
        assert sorted((t["tag"], t["because"]) for t in profile.tags) == sorted(
            ((i.tag, i.because) for i in instances if i.person_id == pid),
            key=lambda pair: pair[0],
        )


def test_demands_are_listed_inside_a_jurisdiction(loaded: Session, as_of: date):
    build_profiles(loaded, as_of)
    loaded.commit()
    every = list(demands(loaded).values())
    total, _ = list_demands(loaded, ADMIN, limit=1)
    assert total == len(every)
    district = Counter(d.community_code[:6] for d in every if d.community_code).most_common(1)[0][0]
    staff = Principal("u-staff", "staff1", "staff", district)
    total, items = list_demands(loaded, staff, limit=10_000)
    assert total == sum(1 for d in every if (d.community_code or "").startswith(district))
    assert 0 < total < len(every)
    assert all(d.community_code.startswith(district) for d in items)
    assert [d.priority for d in items] == sorted(d.priority for d in items)  # urgent first
    count, items = list_demands(loaded, staff, tag="chronic_continuity", limit=10_000)
    assert count == len(items) > 0
    assert all(d.tag == "chronic_continuity" for d in items)


def test_reasons_are_not_stored_in_plain_text(sqlite_env, city: Path, as_of: date):
    with session_scope() as session:
        load(session, city)
    with session_scope() as session:
        build_profiles(session, as_of)
    with session_scope() as session:
        reasons = [d.because for d in session.scalars(select(Demand).limit(50))]
        assert session.scalar(select(func.count()).select_from(Demand)) > 300
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    dispose_engines()

    blob = b"".join(p.read_bytes() for p in sqlite_env.data_dir.glob("carematch.db*"))
    assert len(blob) > 100_000
    assert any("has('" in reason for reason in reasons)  # decrypted, it reads as JSON …
    assert b"has('" not in blob  # … but no explanation key is in the file
    for reason in reasons:
        assert reason.encode() not in blob
