"""`carematch vaccination check-rules`: the safety data files checked before they are deployed."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from carematch.cli import app

RUNNER = CliRunner()


def test_the_shipped_files_pass_with_a_summary():
    result = RUNNER.invoke(app, ["vaccination", "check-rules"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["prescreen"]["questions"] == 10
    assert summary["aefi"]["categories"] == 6
    assert summary["followup"]["reminders"] >= 3


def test_a_broken_file_stops_with_every_problem(tmp_path: Path):
    data = yaml.safe_load(Path("carematch/vaccination/prescreen_rules.yaml").read_text("utf-8"))
    data["rules"][0]["outcome"] = "maybe"
    data["rules"][1]["applies_to"] = ["Ebola"]
    broken = tmp_path / "rules.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = RUNNER.invoke(app, ["vaccination", "check-rules", "--prescreen", str(broken)])
    assert result.exit_code == 2
    assert "maybe" in result.stderr and "Ebola" in result.stderr
    assert result.stdout == ""


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path):
    bad = tmp_path / "aefi.yaml"
    bad.write_text("categories: [unclosed", encoding="utf-8")
    result = RUNNER.invoke(app, ["vaccination", "check-rules", "--aefi", str(bad)])
    assert result.exit_code == 2 and "not valid YAML" in result.stderr
