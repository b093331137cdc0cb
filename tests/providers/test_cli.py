"""`carematch providers import` and `nearest`: JSON on stdout, reasons on stderr, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from carematch.cli import app
from tests.providers.conftest import PROVIDER_HEADER, csv_rows, provider_row, write_csv

runner = CliRunner()


def test_import_of_a_generated_city_prints_the_summary_and_a_rerun_changes_nothing(
    sqlite_env, city: Path
):
    first = runner.invoke(app, ["providers", "import", str(city)])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    providers = len(csv_rows(city / "providers.csv"))
    rows = providers + len(csv_rows(city / "provider_services.csv"))
    rows += len(csv_rows(city / "van_stops.csv"))
    assert (summary["rows"], summary["accepted"], summary["quarantined"]) == (rows, rows, 0)
    assert summary["new"] == providers
    again = json.loads(
        runner.invoke(app, ["providers", "import", str(city)]).stdout.strip().splitlines()[-1]
    )
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, providers)

    query = ["--service", "tb_screening", "--lat", "23.1", "--lon", "113.3", "--limit", "3"]
    nearest = runner.invoke(app, ["providers", "nearest", *query, "--at", "2026-07-01T10:00:00"])
    assert nearest.exit_code == 0, nearest.output
    lines = [json.loads(line) for line in nearest.stdout.strip().splitlines()]
    assert len(lines) == 3
    assert [x["distance_km"] for x in lines] == sorted(x["distance_km"] for x in lines)


def test_rejected_rows_are_named_on_stderr(sqlite_env, tmp_path):
    path = write_csv(
        tmp_path / "p.csv", PROVIDER_HEADER, [provider_row("P1"), provider_row("P2", lat=99)]
    )
    result = runner.invoke(app, ["providers", "import", str(path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["accepted"], summary["quarantined"]) == (2, 1, 1)
    assert "line 3" in result.stderr and "lat 99" in result.stderr


def test_unreadable_input_fails_with_exit_status_2(sqlite_env, tmp_path):
    missing = runner.invoke(app, ["providers", "import", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("provider_id,name\nP1,x\n", encoding="utf-8")
    result = runner.invoke(app, ["providers", "import", str(bad)])
    assert result.exit_code == 2 and "kind" in result.stderr
    unknown = runner.invoke(
        app, ["providers", "nearest", "--service", "nope", "--lat", "23", "--lon", "113"]
    )
    assert unknown.exit_code == 2 and "catalogue" in unknown.stderr
