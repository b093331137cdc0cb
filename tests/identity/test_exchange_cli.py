"""`carematch exchange export|import`: JSON summary on stdout, clear errors on stderr, exit 2."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from carematch.identity.exchange_cli import exchange_app
from tests.identity.test_exchange_service import (
    DEST_REGION,
    consent_for,
    counts,
    export,
    seed_destination,
    seed_origin,
)
from tests.identity.test_exchange_service import nodes as nodes  # the two-installation fixture

runner = CliRunner()


def cli() -> typer.Typer:
    """The exchange commands mounted as `carematch exchange …` would mount them."""
    app = typer.Typer()
    app.add_typer(exchange_app, name="exchange")
    return app


def run(*args: str):
    return runner.invoke(cli(), ["exchange", *args])


def test_export_then_import_through_the_cli(nodes, tmp_path):
    # Given a person with consent at the origin
    nodes.use(nodes.origin)
    person = seed_origin(tmp_path / "o")
    consent_for(person)
    out = tmp_path / "out" / "bundle.json"

    # When the origin exports and the destination imports
    exported = run("export", person, "--to", DEST_REGION, "--out", str(out))
    assert exported.exit_code == 0, exported.output
    nodes.use(nodes.destination)
    known = seed_destination(tmp_path / "d")
    imported = run("import", str(out), "--region", DEST_REGION)

    # Then both print a JSON summary, and the bundle joined the known person
    assert imported.exit_code == 0, imported.output
    export_summary = json.loads(exported.stdout)
    bundle = json.loads(out.read_text(encoding="utf-8"))
    assert export_summary == {
        "person_id": person,
        "to": DEST_REGION,
        "bundle_id": bundle["id"],
        "resources": len(bundle["entry"]),
        "out": str(out),
    }
    summary = json.loads(imported.stdout)
    assert summary["person_id"] == known
    assert summary["new"] == len(bundle["entry"])
    again = json.loads(run("import", str(out)).stdout)
    assert (again["new"], again["updated"]) == (0, 0)


def test_export_without_consent_fails_on_stderr_with_exit_2(nodes, tmp_path):
    nodes.use(nodes.origin)
    person = seed_origin(tmp_path / "o")
    out = tmp_path / "bundle.json"

    result = run("export", person, "--to", DEST_REGION, "--out", str(out))

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no active consent" in result.stderr
    assert not out.exists()


def test_import_errors_are_clear_and_store_nothing(sqlite_env, tmp_path):
    before = counts()
    missing = run("import", str(tmp_path / "nope.json"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json", encoding="utf-8")
    bad = run("import", str(garbage))
    assert bad.exit_code == 2
    assert "not JSON" in bad.stderr and "/problems/invalid-bundle" in bad.stderr
    assert bad.stdout == ""
    assert counts() == before


def test_import_of_a_bundle_without_consent_names_the_problem(nodes, tmp_path):
    nodes.use(nodes.origin)
    person = seed_origin(tmp_path / "o")
    path = tmp_path / "local.json"
    path.write_text(json.dumps(export(person, to=None)), encoding="utf-8")
    nodes.use(nodes.destination)
    before = counts()

    result = run("import", str(path))

    assert result.exit_code == 2
    assert "/problems/consent-required" in result.stderr
    assert "no Consent resource" in result.stderr
    assert counts() == before


def test_unknown_person_is_a_clear_error(sqlite_env, tmp_path):
    result = run("export", "P-nobody", "--to", DEST_REGION, "--out", str(tmp_path / "b.json"))
    assert result.exit_code == 2
    assert "no person P-nobody" in result.stderr
