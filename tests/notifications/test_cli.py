"""`carematch worker` refuses a pace at which a batch would outlive its lease."""

from __future__ import annotations

from typer.testing import CliRunner

from carematch.cli import app


def test_a_batch_slower_than_half_its_lease_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CAREMATCH_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["worker", "--batch", "100", "--rate", "1", "--lease", "10"])
    assert result.exit_code == 2
    assert "lease" in result.output
    assert not (tmp_path / "data").exists()  # refused before touching the database
