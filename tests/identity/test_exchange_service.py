"""Export at one installation, import at another: two databases in one test (SQLite, PostgreSQL).

The origin knows a person from its EHR, immunization and insurance extracts and holds the
person's consent; the destination knows the same person only from its police registry.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from carematch.core.clock import utcnow
from carematch.core.config import get_settings
from carematch.core.db import dispose_engines, session_scope
from carematch.identity.exchange import ConsentRequired, InvalidBundle
from carematch.identity.exchange_service import (
    EXCHANGE_SOURCE,
    exchange_history,
    export_person,
    import_bundle,
    node_id,
)
from carematch.identity.models import IngestRun, Person, PersonLink, SourceRecord
from carematch.identity.service import build_persons_exact, ingest_file, read_person
from carematch.security.authz import Principal
from carematch.security.consent import CROSS_REGION_CONTINUITY, record_consent, revoke_consent
from carematch.security.models import AuditEntry
from tests.conftest import BACKENDS
from tests.fixtures.env import Installation, installation
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

ORIGIN_COMMUNITY = "449901001001"  # 江城市白云区
DEST_REGION = "440106"  # a district of another city
DEST_COMMUNITY = "440106001001"
BORN = date(1968, 4, 12)
ID_NUMBER = make_id("449901", BORN, 31, "M")
ADMIN = Principal("u-admin", "admin1", "admin", None)

EHR_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,address,community_code,conditions,sbp,dbp,"
    "glucose,last_visit_date"
)
IMM_HEADER = "record_id,name,id_number,sex,birth_date,phone,address,community_code,doses"
INS_HEADER = (
    "record_id,name,id_number,sex,birth_date,phone,settlement_date,facility,facility_code,"
    "visit_type,diagnosis,insurance_type,insured_locally,insured_province,total_cost,"
    "reimbursed,out_of_pocket"
)


@dataclass
class Nodes:
    """Two installations (origin and destination) and a switch between them."""

    origin: Installation
    destination: Installation
    monkeypatch: pytest.MonkeyPatch

    def use(self, node: Installation) -> None:
        """Point every CareMatch call at ``node``: its data directory, key and database."""
        self.monkeypatch.setenv("CAREMATCH_DATA_DIR", str(node.data_dir))
        self.monkeypatch.setenv("CAREMATCH_DATABASE_URL", node.database_url)
        get_settings.cache_clear()
        dispose_engines()


@pytest.fixture(params=BACKENDS)
def nodes(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Iterator[Nodes]:
    """An origin and a destination installation on the same kind of database."""
    with ExitStack() as stack:
        origin = stack.enter_context(installation(tmp_path / "origin", request.param, monkeypatch))
        destination = stack.enter_context(
            installation(tmp_path / "destination", request.param, monkeypatch)
        )
        yield Nodes(origin, destination, monkeypatch)


def seed_origin(tmp: Path, id_number: str = ID_NUMBER) -> str:
    """EHR, immunization and insurance records of one man; returns his person id."""
    tmp.mkdir(parents=True, exist_ok=True)
    identity = f"林国栋,{id_number},M,{BORN},13800138000,江城市白云区幸福路1号"
    write_extract(
        tmp / "ehr.csv",
        EHR_HEADER,
        [f"EHR1,{identity},{ORIGIN_COMMUNITY},hypertension;diabetes,152,96,7.8,2026-05-03"],
    )
    write_extract(
        tmp / "immunization.csv",
        IMM_HEADER,
        [f"IMM1,{identity},{ORIGIN_COMMUNITY},HepB:2025-01-10|HepB:2025-02-10|Flu:2025-10-01"],
    )
    settlement = "江城市人民医院,H0001,inpatient,hypertension,resident,true,44"
    write_extract(
        tmp / "insurance.csv",
        INS_HEADER,
        [
            f"INS1,林国栋,{id_number},M,{BORN},13800138000,2026-03-01,{settlement},"
            "5200.0,3900.0,1300.0",
            # A double submission: identical apart from record_id; it must travel once.
            f"INS2,林国栋,{id_number},M,{BORN},13800138000,2026-03-01,{settlement},"
            "5200.0,3900.0,1300.0",
        ],
    )
    with session_scope() as session:
        for source in ("ehr", "immunization", "insurance"):
            ingest_file(session, source, tmp / f"{source}.csv")
        build_persons_exact(session)
        return only_person_id(session)


def seed_destination(tmp: Path, id_number: str = ID_NUMBER) -> str:
    """The same man in the destination's police registry, with a newer phone."""
    tmp.mkdir(parents=True, exist_ok=True)
    write_extract(
        tmp / "police.csv",
        POLICE_HEADER,
        [
            police_row(
                "GZ1",
                "林国栋",
                id_number,
                DEST_COMMUNITY,
                born=str(BORN),
                phone="13912345678",
                hukou="migrant",
            )
        ],
    )
    with session_scope() as session:
        ingest_file(session, "police", tmp / "police.csv")
        build_persons_exact(session)
        return only_person_id(session)


def only_person_id(session) -> str:
    ids = list(session.scalars(select(Person.id)))
    assert len(ids) == 1, ids
    return ids[0]


def consent_for(person_id: str, region: str = "440100", days: int = 30) -> str:
    """Record the person's consent to send the record to ``region`` for ``days``."""
    with session_scope() as session:
        consent = record_consent(
            session,
            person_id,
            purpose=CROSS_REGION_CONTINUITY,
            grantee_region=region,
            grantee_organization="广州市第一人民医院",
            period_end=utcnow() + timedelta(days=days),
            actor="official_o",
        )
        return consent.id


def export(person_id: str, to: str | None = DEST_REGION) -> dict:
    with session_scope() as session:
        return export_person(session, person_id, to_region=to, actor="official_o")


def counts() -> dict[str, int]:
    """Rows that an import may add, by table."""
    with session_scope() as session:
        return {
            "persons": session.scalar(select(func.count()).select_from(Person)) or 0,
            "links": session.scalar(select(func.count()).select_from(PersonLink)) or 0,
            "records": session.scalar(select(func.count()).select_from(SourceRecord)) or 0,
            "runs": session.scalar(select(func.count()).select_from(IngestRun)) or 0,
        }


def test_export_then_import_leaves_one_person_with_the_origin_history(nodes, tmp_path):
    # Given a person known at the origin, with consent to share with the destination's city
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    consent_id = consent_for(origin_person, region="440100")
    origin_node = node_id()
    bundle = export(origin_person)
    # and the same person known at the destination from the police registry only
    nodes.use(nodes.destination)
    assert node_id() != origin_node, "two installations are two nodes"
    dest_person = seed_destination(tmp_path / "d")

    # When the destination imports the origin's bundle
    with session_scope() as session:
        summary = import_bundle(session, json.dumps(bundle), actor="official_d")

    # Then the bundle attached to the person already known: still exactly one person
    assert summary.person_id == dest_person
    assert summary.consent_id == consent_id
    assert summary.unlinked == 0 and summary.new == summary.resources
    assert (summary.origin_node, summary.origin_region) == (origin_node, "449901")
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Person)) == 1
        person, records = read_person(session, ADMIN, dest_person)
        assert person.phone == "13912345678", "the local, more trusted record keeps its phone"
        imported = [r for r in records if r.source == EXCHANGE_SOURCE]
        assert Counter(r.source for r in records) == {"police": 1, EXCHANGE_SOURCE: len(imported)}
        by_kind: dict[str, list[dict]] = {}
        for r in imported:
            attrs = json.loads(r.attributes)
            by_kind.setdefault(attrs["kind"], []).append(attrs | json.loads(r.sensitive or "{}"))
            # Provenance on every record: origin region and node, bundle, export time
            assert attrs["origin_region"] == "449901"
            assert attrs["origin_node"] == origin_node
            assert attrs["bundle_id"] == bundle["id"]
            assert attrs["exported_at"].startswith(bundle["timestamp"][:19])
            assert r.community_code is None, "the origin's community is not a place here"
        history = exchange_history(session, ADMIN, dest_person)

    assert sorted(c for x in by_kind["condition"] for c in x["conditions"]) == [
        "diabetes",
        "hypertension",
    ]
    assert [(x["sbp"], x["dbp"]) for x in by_kind["blood_pressure"]] == [(152, 96)]
    assert [x["glucose"] for x in by_kind["glucose"]] == [7.8]
    assert sorted((x["series"], x["date"], x["dose_number"]) for x in by_kind["immunization"]) == [
        ("Flu", "2025-10-01", 1),
        ("HepB", "2025-01-10", 1),
        ("HepB", "2025-02-10", 2),
    ]
    [claim] = by_kind["claim"]  # the double submission travelled once
    assert (claim["total_cost"], claim["reimbursed"], claim["out_of_pocket"]) == (
        5200.0,
        3900.0,
        1300.0,
    )
    assert (claim["settlement_date"], claim["facility"]) == ("2026-03-01", "江城市人民医院")
    assert claim["origin_record"] == "insurance/INS1"
    [consent] = by_kind["consent"]
    assert (consent["consent_id"], consent["grantee_region"]) == (consent_id, "440100")
    [provenance] = by_kind["provenance"]
    assert set(provenance["origin_records"]) == {"ehr/EHR1", "immunization/IMM1", "insurance/INS1"}
    # The history read shows the same records, with provenance, to the destination
    assert Counter(i.kind for i in history) == Counter({k: len(v) for k, v in by_kind.items()})
    assert {i.origin_region for i in history} == {"449901"}


def test_import_without_consent_is_refused_and_stores_nothing(nodes, tmp_path):
    # Given a bundle exported for local use: it carries no consent
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    local_view = export(origin_person, to=None)
    assert not [e for e in local_view["entry"] if e["resource"]["resourceType"] == "Consent"]
    nodes.use(nodes.destination)
    seed_destination(tmp_path / "d")
    before = counts()

    # When the destination imports it, then it is refused as consent-required (403)
    with pytest.raises(ConsentRequired) as refused, session_scope() as session:
        import_bundle(session, local_view, actor="official_d")
    problem = refused.value.problem()
    assert (problem["status"], problem["type"]) == (403, "/problems/consent-required")
    assert "no Consent" in problem["detail"]
    # and nothing was stored
    assert counts() == before


def test_import_refuses_an_expired_or_foreign_consent(nodes, tmp_path):
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    consent_for(origin_person, region="440100", days=30)
    bundle = export(origin_person)
    nodes.use(nodes.destination)
    seed_destination(tmp_path / "d")
    before = counts()

    # A receiver in another province is not the grantee
    with pytest.raises(ConsentRequired, match="does not cover 450100"), session_scope() as s:
        import_bundle(s, bundle, region="450100")
    # Forty days later the consent has ended
    later = utcnow() + timedelta(days=40)
    with pytest.raises(ConsentRequired, match="ended"), session_scope() as s:
        import_bundle(s, bundle, region=DEST_REGION, at=later)
    assert counts() == before
    # Inside the grantee region and the period, it goes in
    with session_scope() as s:
        assert import_bundle(s, bundle, region=DEST_REGION).new > 0


def test_importing_the_same_bundle_twice_adds_nothing(nodes, tmp_path):
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    consent_for(origin_person)
    bundle = export(origin_person)
    nodes.use(nodes.destination)
    seed_destination(tmp_path / "d")
    with session_scope() as session:
        first = import_bundle(session, bundle)
    after_first = counts()

    with session_scope() as session:
        second = import_bundle(session, json.dumps(bundle).encode())

    assert (second.new, second.updated, second.unchanged) == (0, 0, first.new)
    assert second.run_id is None and second.person_id == first.person_id
    assert counts() == after_first


def test_a_later_export_of_the_same_data_updates_only_its_provenance(nodes, tmp_path):
    # Resources are keyed by origin node and resource id, not by bundle.
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    consent_for(origin_person)
    first_bundle, second_bundle = export(origin_person), export(origin_person)
    assert first_bundle["id"] != second_bundle["id"]
    nodes.use(nodes.destination)
    seed_destination(tmp_path / "d")
    with session_scope() as session:
        first = import_bundle(session, first_bundle)
    with session_scope() as session:
        second = import_bundle(session, second_bundle)
    # Only the new Provenance is new (a new transfer); the clinical resources are unchanged.
    assert second.new == 1
    assert second.unchanged == first.new - 1


def test_a_person_unknown_at_the_destination_becomes_a_new_person(nodes, tmp_path):
    nodes.use(nodes.origin)
    origin_person = seed_origin(tmp_path / "o")
    consent_for(origin_person)
    bundle = export(origin_person)
    nodes.use(nodes.destination)
    assert counts()["persons"] == 0

    with session_scope() as session:
        summary = import_bundle(session, bundle)

    with session_scope() as session:
        person = session.get(Person, summary.person_id)
        assert person is not None
        assert (person.name, person.id_number, person.birth_date) == ("林国栋", ID_NUMBER, BORN)
        assert person.record_count == summary.resources
    assert counts()["persons"] == 1


def test_export_needs_a_consent_that_covers_the_destination(nodes, tmp_path):
    nodes.use(nodes.origin)
    person = seed_origin(tmp_path / "o")

    with pytest.raises(ConsentRequired, match="recorded none"):
        export(person)
    consent_id = consent_for(person, region="440100")
    with pytest.raises(ConsentRequired, match="does not cover 450100"):
        export(person, to="450100")
    assert export(person, to="440106")["type"] == "collection"
    with session_scope() as session:
        revoke_consent(session, consent_id, actor="official_o", reason="withdrawn by phone")
    with pytest.raises(ConsentRequired, match="revoked") as refused:
        export(person)
    assert refused.value.problem()["type"] == "/problems/consent-required"


def test_exports_are_audited_with_bundle_and_consent(nodes, tmp_path):
    nodes.use(nodes.origin)
    person = seed_origin(tmp_path / "o")
    consent_id = consent_for(person)
    bundle = export(person)
    with session_scope() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "export_fhir")).one()
    detail = json.loads(entry.detail)
    assert (entry.entity_id, detail["bundle_id"], detail["consent_id"], detail["to"]) == (
        person,
        bundle["id"],
        consent_id,
        DEST_REGION,
    )
    assert "林国栋" not in entry.detail and ID_NUMBER not in entry.detail


def test_a_malformed_bundle_is_refused_before_consent_and_stores_nothing(sqlite_env):
    before = counts()
    with pytest.raises(InvalidBundle) as refused, session_scope() as session:
        import_bundle(session, {"resourceType": "Bundle", "type": "collection", "entry": "x"})
    assert refused.value.problem()["status"] == 422
    assert counts() == before
