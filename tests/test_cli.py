"""The command-line contracts: JSON on stdout, clear errors, exit codes."""

from __future__ import annotations

import json
from datetime import date

from typer.testing import CliRunner

from carematch.cli import app
from tests.fixtures.factories import POLICE_HEADER, make_id, police_row, write_extract

runner = CliRunner()


def test_ingest_prints_the_summary_contract(sqlite_env, tmp_path):
    path = write_extract(
        tmp_path / "p.csv",
        POLICE_HEADER,
        [
            police_row("P1", "张伟", make_id("449901", date(1990, 1, 5), 11, "M"), "449901001001"),
            police_row("P2", "李娜", "", "449901001001", born="1990-02-30"),
        ],
    )
    result = runner.invoke(app, ["ingest", "police", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert {k: summary[k] for k in ("source", "rows", "accepted", "quarantined")} == {
        "source": "police",
        "rows": 2,
        "accepted": 1,
        "quarantined": 1,
    }


def test_ingest_of_unknown_source_or_missing_file_fails_clearly(sqlite_env, tmp_path):
    missing = runner.invoke(app, ["ingest", "police", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2
    assert "no such file" in missing.output
    path = write_extract(tmp_path / "x.csv", "record_id,name", ["1,a"])
    unknown = runner.invoke(app, ["ingest", "weather", str(path)])
    assert unknown.exit_code == 2
    assert "unknown source" in unknown.output and "police" in unknown.output


def test_ingest_rejects_a_file_without_record_id(sqlite_env, tmp_path):
    path = write_extract(tmp_path / "x.csv", "name,phone", ["张伟,13800138000"])
    result = runner.invoke(app, ["ingest", "police", str(path)])
    assert result.exit_code == 2
    assert "record_id" in result.output


def test_users_create_reads_the_password_from_stdin(sqlite_env):
    result = runner.invoke(
        app,
        [
            "users",
            "create",
            "alice",
            "--role",
            "official",
            "--region",
            "449901",
            "--password-stdin",
        ],
        input="a-long-password\n",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout.strip().splitlines()[-1])
    assert created["role"] == "official" and created["region_code"] == "449901"
    again = runner.invoke(
        app,
        [
            "users",
            "create",
            "alice",
            "--role",
            "official",
            "--region",
            "449901",
            "--password-stdin",
        ],
        input="a-long-password\n",
    )
    assert again.exit_code == 2 and "already exists" in again.output


def test_staff_without_region_or_short_password_is_refused(sqlite_env):
    no_region = runner.invoke(
        app,
        ["users", "create", "bob", "--role", "doctor", "--password-stdin"],
        input="long-enough-pw\n",
    )
    assert no_region.exit_code == 2 and "--region" in no_region.output
    short = runner.invoke(
        app, ["users", "create", "bob", "--role", "admin", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 2 and "at least" in short.output


def test_a_resident_account_is_linked_to_one_existing_person(sqlite_env):
    from carematch.core.db import session_scope
    from carematch.identity.models import Person

    with session_scope() as session:
        session.add(Person(id="p-linked", name="张三", community_code="449901001001"))

    def create(name: str, *options: str):
        return runner.invoke(
            app, ["users", "create", name, *options, "--password-stdin"], input="long-enough-pw\n"
        )

    made = create("zhang", "--role", "resident", "--person", "p-linked")
    assert made.exit_code == 0, made.output
    assert json.loads(made.output)["person_id"] == "p-linked"

    second = create("zhang2", "--role", "resident", "--person", "p-linked")
    assert second.exit_code == 2 and "already has an account" in second.output
    unknown = create("li", "--role", "resident", "--person", "p-nobody")
    assert unknown.exit_code == 2 and "unknown person" in unknown.output
    staff = create("doc", "--role", "doctor", "--region", "449901", "--person", "p-linked")
    assert staff.exit_code == 2 and "only a resident" in staff.output
