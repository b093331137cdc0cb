"""Ingest into a real database (SQLite and PostgreSQL): reconciliation, quarantine, idempotence."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import func, select

from carematch.identity import repository
from carematch.identity.models import QuarantinedRow, SourceRecord
from carematch.identity.service import build_persons_exact, ingest_file
from tests.fixtures.factories import (
    POLICE_HEADER,
    make_id,
    police_row,
    write_extract,
    wrong_check_digit,
)

C1 = "449901001001"


def _messy_police_file(tmp_path):
    """A GBK extract with every kind of damage the acceptance criteria name."""
    good_id = make_id("449901", date(1980, 2, 29), 41, "M")
    rows = [
        police_row("P1", "张玮", good_id, C1, born="1980-02-29"),
        "",
        police_row(
            "P2", "李丽", make_id("449901", date(1975, 6, 1), 52, "F"), C1, sex="F", born="1975/6/1"
        ),
        POLICE_HEADER,  # a duplicated header line
        police_row("P3", "王芳", "", C1) + ",surplus",  # too many columns
        police_row("P4", "赵敏", "", C1, born="1990-02-30"),  # impossible date
        police_row(
            "P5",
            "陈伟",
            wrong_check_digit(make_id("449901", date(1970, 1, 1), 63, "M")),
            C1,
            born="1970-01-01",
        ),
        "",
    ]
    return write_extract(tmp_path / "police_gbk.csv", POLICE_HEADER, rows, encoding="gbk")


def test_messy_gbk_file_reconciles_and_quarantines_verbatim(session, tmp_path):
    path = _messy_police_file(tmp_path)
    summary = ingest_file(session, "police", path)
    session.commit()

    assert summary.encoding == "gb18030"
    assert summary.rows == summary.accepted + summary.quarantined
    assert (summary.rows, summary.accepted, summary.quarantined) == (6, 3, 3)
    assert summary.flagged == 1

    quarantined = repository.quarantine_for_source(session, "police")
    lines = path.read_bytes().decode("gbk").split("\r\n")
    by_code = {json.loads(q.reasons)[0]["code"]: q for q in quarantined}
    assert set(by_code) == {"repeated_header", "column_count", "bad_date"}
    for q in quarantined:
        assert q.raw == lines[q.line - 1], "quarantine keeps the row exactly as it was"

    names = dict(session.execute(select(SourceRecord.record_id, SourceRecord.name)).all())
    assert names == {"P1": "张玮", "P2": "李丽", "P5": "陈伟"}
    flags = session.scalar(select(SourceRecord.flags).where(SourceRecord.record_id == "P5"))
    assert [f["code"] for f in json.loads(flags)] == ["id_checksum"]


def test_second_ingest_of_the_same_file_adds_nothing(session, tmp_path):
    path = _messy_police_file(tmp_path)
    first = ingest_file(session, "police", path)
    session.commit()
    second = ingest_file(session, "police", path)
    session.commit()

    assert (second.rows, second.accepted, second.quarantined) == (
        first.rows,
        first.accepted,
        first.quarantined,
    )
    assert second.new == 0 and second.updated == 0 and second.unchanged == first.accepted
    assert session.scalar(select(func.count()).select_from(SourceRecord)) == 3
    assert session.scalar(select(func.count()).select_from(QuarantinedRow)) == 3


def test_changed_row_is_updated_not_duplicated(session, tmp_path):
    id_number = make_id("449901", date(1988, 8, 8), 71, "M")
    write_extract(
        tmp_path / "a.csv",
        POLICE_HEADER,
        [police_row("P1", "刘洋", id_number, C1, born="1988-08-08")],
    )
    ingest_file(session, "police", tmp_path / "a.csv")
    session.commit()
    write_extract(
        tmp_path / "b.csv",
        POLICE_HEADER,
        [police_row("P1", "刘洋", id_number, C1, born="1988-08-08", phone="13900139000")],
    )
    summary = ingest_file(session, "police", tmp_path / "b.csv")
    session.commit()

    assert (summary.new, summary.updated) == (0, 1)
    record = session.scalar(select(SourceRecord).where(SourceRecord.record_id == "P1"))
    assert record.phone == "13900139000"


def test_persons_group_records_sharing_a_valid_id_and_rerun_keeps_ids(session, tmp_path):
    shared = make_id("449901", date(1960, 12, 31), 81, "F")
    other = make_id("449902", date(1961, 1, 1), 92, "F")
    write_extract(
        tmp_path / "p.csv",
        POLICE_HEADER,
        [
            police_row("P1", "黄丽", shared, C1, sex="F", born="1960-12-31", hukou="migrant"),
            police_row("P2", "黄莉", shared, C1, sex="F", born="1960-12-31"),
            police_row("P3", "何静", other, "449902001001", sex="F", born="1961-01-01"),
            police_row("P4", "无证", "", C1),
        ],
    )
    ingest_file(session, "police", tmp_path / "p.csv")
    first = build_persons_exact(session)
    session.commit()
    ids_first = {p.id for p in repository.list_persons(session, None, 100, 0)[1]}
    second = build_persons_exact(session)
    session.commit()
    _total, people = repository.list_persons(session, None, 100, 0)

    assert first["persons"] == second["persons"] == 2
    assert {p.id for p in people} == ids_first
    assert sorted(p.record_count for p in people) == [1, 2]
    assert repository.list_persons(session, "449902", 100, 0)[0] == 1


def test_parquet_extract_is_ingested_like_csv(session, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = make_id("449901", date(1979, 4, 4), 33, "M")
    table = pa.table(
        {
            "record_id": ["Q1", "Q2"],
            "name": ["欧阳娜", "孙强"],
            "id_number": [good, None],
            "sex": ["男", "M"],
            "birth_date": ["1979-04-04", "1979-02-30"],
            "community_code": [C1, C1],
        }
    )
    pq.write_table(table, tmp_path / "police.parquet")
    summary = ingest_file(session, "police", tmp_path / "police.parquet")
    session.commit()

    assert (summary.encoding, summary.rows, summary.accepted, summary.quarantined) == (
        "parquet",
        2,
        1,
        1,
    )
    record = session.scalar(select(SourceRecord).where(SourceRecord.record_id == "Q1"))
    assert (record.name, record.sex, record.id_valid) == ("欧阳娜", "M", True)
    (bad,) = repository.quarantine_for_source(session, "police")
    assert "1979-02-30" in bad.raw and json.loads(bad.reasons)[0]["code"] == "bad_date"
