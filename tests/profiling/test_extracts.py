"""The columnar reader of extracts reads values the way ingest does."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from carematch.identity.ingest import parse_date
from carematch.identity.sources import SOURCES
from carematch.profiling import extracts

EHR = (
    "record_id,name,sex,birth_date,conditions,sbp,is_pregnant,lives_alone,last_visit_date\n"
    "E1,甲,男,1980-5-6,hypertension; diabetes,150,true,是,2026/1/2\n"
    "E2,乙,Female,1979年1月4日,，copd,１２０,否,有,20260103\n"
    "E3,丙,x,2001-02-29,,abc,maybe,,2026.1.4\n"
    "E4,丁,F,1990-01-01,,,,,\n"
)


@pytest.fixture
def ehr(tmp_path: Path) -> dict[str, dict]:
    path = tmp_path / "ehr.csv"
    path.write_text(EHR, encoding="utf-8")
    mapping = pa.Table.from_pylist(
        [{"source": "ehr", "record_id": f"E{i}", "person_id": f"P{i}"} for i in (1, 2, 3)]
        + [{"source": "police", "record_id": "E4", "person_id": "P4"}]  # another source's E4
    )
    table = extracts.source_from_csv("ehr", path, mapping)
    return {row["record_id"]: row for row in table.to_pylist()}


def test_only_records_the_mapping_assigns_are_read(ehr: dict[str, dict]):
    assert {r: row["person_id"] for r, row in ehr.items()} == {"E1": "P1", "E2": "P2", "E3": "P3"}


def test_values_read_as_ingest_reads_them(ehr: dict[str, dict]):
    assert ehr["E1"]["last_visit_date"] == parse_date("2026/1/2") == date(2026, 1, 2)
    assert ehr["E2"]["last_visit_date"] == date(2026, 1, 3)
    assert ehr["E3"]["last_visit_date"] == date(2026, 1, 4)
    assert ehr["E1"]["conditions"] == ["hypertension", "diabetes"]
    assert [c for c in ehr["E2"]["conditions"] if c] == ["copd"]
    assert ehr["E3"]["conditions"] is None
    assert (ehr["E1"]["is_pregnant"], ehr["E2"]["is_pregnant"], ehr["E3"]["is_pregnant"]) == (
        True,
        False,
        None,
    )
    assert (ehr["E1"]["lives_alone"], ehr["E2"]["lives_alone"]) == (True, True)
    assert (ehr["E1"]["sbp"], ehr["E2"]["sbp"], ehr["E3"]["sbp"]) == (150, 120, None)


def test_golden_stand_ins_take_each_field_from_the_most_trusted_record(tmp_path: Path):
    (tmp_path / "ehr.csv").write_text(EHR, encoding="utf-8")
    (tmp_path / "police.csv").write_text(
        "record_id,name,sex,birth_date,hukou,community_code\nP1,甲,,1980-05-07,local,449901001001\n",
        encoding="utf-8",
    )
    mapping = pa.Table.from_pylist(
        [
            {"source": "ehr", "record_id": "E1", "person_id": "A"},
            {"source": "police", "record_id": "P1", "person_id": "A"},
            {"source": "ehr", "record_id": "E2", "person_id": "B"},
            {"source": "ehr", "record_id": "E3", "person_id": "C"},
        ]
    )
    persons, _ = extracts.read_city(tmp_path, mapping)
    rows = {row["person_id"]: row for row in persons.to_pylist()}
    # Police outranks the EHR for the birth date; it has no sex, so the EHR's stands.
    assert rows["A"] == {
        "person_id": "A",
        "sex": "M",
        "birth_date": date(1980, 5, 7),
        "community_code": "449901001001",
        "hukou": "local",
    }
    assert (rows["B"]["sex"], rows["B"]["birth_date"]) == ("F", date(1979, 1, 4))
    # An impossible date is unknown, never rolled over to 1 March; an unknown sex is unknown.
    assert (rows["C"]["sex"], rows["C"]["birth_date"]) == (None, None)


def test_survivorship_order_is_ingests_source_trust():
    by_trust = sorted(extracts.SOURCE_ORDER, key=lambda source: SOURCES[source].trust)
    assert list(extracts.SOURCE_ORDER) == by_trust
