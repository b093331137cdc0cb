"""What the feedback tables store: personal text encrypted at rest, the schema the migration
builds equal to the models."""

from __future__ import annotations

from datetime import date

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, inspect, text

from carematch.core.db import Base, dispose_engines, get_engine, session_scope
from carematch.core.migrate import alembic_config, import_all_models
from tests.feedback.conftest import bearer, build_world
from tests.feedback.test_api import file, move

FEEDBACK_TABLES = {
    "complaints",
    "complaint_events",
    "findings",
    "rectification_items",
    "provider_flags",
}


def test_complaint_text_contact_notes_findings_and_evidence_are_encrypted_at_rest(
    sqlite_env, tmp_path, pinned
):
    from fastapi.testclient import TestClient

    from carematch.api.app import create_app

    world = build_world(tmp_path)
    secrets = {
        "text": "欧阳明远投诉接种门诊漏登疫苗批号",
        "contact": "13966667777",
        "answer": "欧阳先生您好，已补登批号",
        "finding": "核实欧阳明远的接种记录漏登",
        "evidence": "欧阳明远已签收更正后的接种证",
    }
    with TestClient(create_app()) as api:
        cid = file(
            api,
            "grid_d1",
            channel="hotline_12345",
            provider_id=world.provider_d1,
            contact=secrets["contact"],
            text=secrets["text"],
        ).json()["id"]
        move(api, cid, "accepted")
        created = api.post(
            "/api/v1/rectifications",
            json={
                "source": "complaint",
                "complaint_id": cid,
                "text": secrets["finding"],
                "items": [{"measure": "规范疫苗批号登记流程", "deadline": "2026-03-31"}],
            },
            headers=bearer("official_d1"),
        )
        item = created.json()["items"][0]["id"]
        api.patch(
            f"/api/v1/rectifications/{item}",
            json={"status": "done", "evidence_text": secrets["evidence"]},
            headers=bearer("doctor_d1"),
        )
        move(api, cid, "answered", secrets["answer"])
        # The API still reads every value back.
        detail = api.get(f"/api/v1/complaints/{cid}", headers=bearer("official_d1")).json()
        assert detail["text"] == secrets["text"]
        assert detail["contact"] == secrets["contact"]
        assert detail["events"][-1]["note"] == secrets["answer"]
    with session_scope() as session:
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    dispose_engines()

    blob = b"".join(p.read_bytes() for p in sqlite_env.data_dir.glob("carematch.db*"))
    assert (
        "规范疫苗批号登记流程".encode() in blob
    )  # the public measure is in clear: the check sees text
    for value in secrets.values():
        assert value.encode() not in blob
        assert value.encode("gb18030") not in blob
    assert "欧阳".encode() not in blob


def schema_diff() -> list:
    """What autogenerate would still change in the feedback tables after upgrading to head."""
    import_all_models()
    with get_engine().connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)

    def table_of(change) -> str | None:
        # ("add_table", Table), ("add_index", Index), ("add_column", schema, table, Column),
        # or a list of ("modify_…", schema, table, column, …) for one column.
        op = change[0] if isinstance(change, list) else change
        for part in op[1:]:
            if isinstance(part, Table):
                return part.name
            if isinstance(part, str) and part in FEEDBACK_TABLES:
                return part
            table = getattr(part, "table", None)
            if isinstance(table, Table):
                return table.name
        return None

    return [c for c in diff if table_of(c) in FEEDBACK_TABLES]


def test_upgraded_database_matches_the_models(env):
    assert set(inspect(get_engine()).get_table_names()) >= FEEDBACK_TABLES
    assert schema_diff() == []


def test_0010_downgrades_and_upgrades_again(env):
    config = alembic_config()
    command.downgrade(config, "0009")
    assert not FEEDBACK_TABLES & set(inspect(get_engine()).get_table_names())
    command.upgrade(config, "head")
    assert set(inspect(get_engine()).get_table_names()) >= FEEDBACK_TABLES
    assert schema_diff() == []


def test_deadline_column_holds_a_date(env):
    columns = {c["name"]: c for c in inspect(get_engine()).get_columns("rectification_items")}
    assert columns["deadline"]["type"].python_type is date
