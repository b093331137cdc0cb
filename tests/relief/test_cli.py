"""`carematch relief …`: data on stdout, a clear message and exit 2 on bad input."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from carematch.cli import app

runner = CliRunner()


def test_fund_deposit_and_balance(sqlite_env):
    first = runner.invoke(app, ["relief", "fund", "deposit", "1200.50", "--note", "预算"])
    second = runner.invoke(app, ["relief", "fund", "deposit", "300"])
    balance = runner.invoke(app, ["relief", "fund", "balance"])

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["balance"] == 1200.5
    assert json.loads(second.stdout)["balance"] == 1500.5
    out = json.loads(balance.stdout)
    assert out["balance"] == 1500.5 and out["entries"] == 2
    assert [e["amount"] for e in out["latest"]] == [300.0, 1200.5]


def test_bad_input_exits_2_with_the_reason(sqlite_env):
    for amount in ("abc", "0", "1.234"):
        result = runner.invoke(app, ["relief", "fund", "deposit", amount])
        assert result.exit_code == 2, (amount, result.output)
        assert "deposit" in result.output or "amount" in result.output
    bad_day = runner.invoke(app, ["relief", "watch", "--as-of", "2026-13-01"])
    assert bad_day.exit_code == 2 and "--as-of" in bad_day.output
    bad_status = runner.invoke(app, ["relief", "cases", "--status", "lost"])
    assert bad_status.exit_code == 2 and "status must be one of" in bad_status.output


def test_watch_on_an_empty_installation(sqlite_env):
    result = runner.invoke(app, ["relief", "watch", "--as-of", "2026-06-30"])

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "as_of": "2026-06-30",
        "households": 0,
        "at_risk": 0,
        "opened": 0,
        "refreshed": 0,
        "episodes_closed": 0,
    }
