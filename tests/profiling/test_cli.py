"""`carematch profile build`: a JSON summary, idempotent reruns, a clear error on a bad date."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carematch.cli import app
from tests.profiling.test_api import _world

runner = CliRunner()


def test_profile_build_prints_a_summary_and_a_rerun_changes_nothing(sqlite_env, tmp_path):
    _world(tmp_path)  # builds profiles once as of 2026-06-30
    first = runner.invoke(app, ["profile", "build", "--as-of", "2026-06-30"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["as_of"] == "2026-06-30"
    assert summary["persons"] == 2
    assert summary["by_tag"]["chronic_continuity"] == 1
    assert (summary["opened"], summary["closed"]) == (0, 0)
    assert summary["kept"] > 0


def test_profile_build_refuses_a_bad_date(sqlite_env):
    result = runner.invoke(app, ["profile", "build", "--as-of", "2026-02-30"])
    assert result.exit_code == 2
    assert "--as-of" in result.output and "Traceback" not in result.output
