"""Difference-in-differences: exact on constructed data, honest intervals on simulated panels."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carematch.indicators.did import (
    DidInputError,
    coverage,
    did,
    did_2x2,
    did_panel,
    simulate_panel,
)


def test_2x2_is_the_difference_of_the_four_cell_means():
    # Given two units per group observed before and after
    outcome = [10, 12, 10, 16, 11, 13, 9, 17]
    treated = [0, 0, 1, 1, 0, 0, 1, 1]
    post = [0, 1, 0, 1, 0, 1, 0, 1]
    unit = [1, 1, 2, 2, 3, 3, 4, 4]
    # When the 2x2 estimator runs
    result = did_2x2(outcome, treated, post, unit)
    # Then it is (treated after - before) - (comparison after - before)
    assert result.estimate == pytest.approx((17 + 16) / 2 - (10 + 9) / 2 - ((12 + 13) / 2 - 10.5))
    assert result.ci_low < result.estimate < result.ci_high
    assert (result.units, result.treated_units, result.observations) == (4, 2, 8)


@settings(max_examples=40, deadline=None)
@given(
    effect=st.floats(-5, 5),
    unit_levels=st.lists(st.floats(-50, 50), min_size=4, max_size=8),
    period_levels=st.lists(st.floats(-20, 20), min_size=3, max_size=6),
)
def test_panel_recovers_an_effect_exactly_without_noise(effect, unit_levels, period_levels):
    # Given outcomes that are unit effect + period effect + effect for treated after the policy
    units, periods = len(unit_levels), len(period_levels)
    policy = periods // 2
    rows = [(u, t, u % 2 == 0, t >= policy) for u in range(units) for t in range(periods)]
    y = [unit_levels[u] + period_levels[t] + effect * (d and p) for u, t, d, p in rows]
    unit, period, treated, post = (list(c) for c in zip(*rows, strict=True))
    # When the fixed-effects estimator runs, then it finds the effect
    result = did_panel(y, unit, period, treated, post)
    assert result.estimate == pytest.approx(effect, abs=1e-6)


def test_panel_handles_a_missing_observation_like_dummies_would():
    # An unbalanced panel: demeaning within unit is still exact (Frisch-Waugh)
    rng = np.random.default_rng(3)
    panel = simulate_panel(rng, units=12, periods=5, policy_period=2, effect=0.2)
    keep = np.ones(len(panel.outcome), dtype=bool)
    keep[[0, 7, 13]] = False
    y = np.log(panel.outcome[keep])
    result = did_panel(
        y, panel.unit[keep], panel.period[keep], panel.treated[keep], panel.post[keep]
    )
    units = np.unique(panel.unit[keep])
    periods = np.unique(panel.period[keep])
    x = np.column_stack(
        [(panel.treated & panel.post)[keep].astype(float)]
        + [(panel.unit[keep] == u).astype(float) for u in units]
        + [(panel.period[keep] == t).astype(float) for t in periods[1:]]
    )
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    assert result.estimate == pytest.approx(beta[0], abs=1e-9)


def test_the_interval_covers_an_injected_30_percent_rise_in_at_least_90_percent():
    # Given 200 seeded panels where raising reimbursement raised visits 30 %
    found = coverage(200, seed=20261123, effect=0.30)
    # Then the 95 % interval covers log(1.3) in at least 90 % of them, with little bias,
    assert found.rate >= 0.90
    assert abs(found.mean_bias) < 0.02
    # while the naive before/after comparison carries the common trend as bias
    assert found.naive_mean_bias > 0.1


def test_two_periods_use_the_2x2_estimator_and_still_cover():
    found = coverage(100, seed=5, units=30, periods=2, policy_period=1)
    assert found.rate >= 0.88
    rng = np.random.default_rng(1)
    p = simulate_panel(rng, units=10, periods=2, policy_period=1)
    result = did(p.outcome, p.unit, p.period, p.treated, p.post, log_outcome=True)
    assert result.method == "2x2"
    assert result.relative_effect == pytest.approx(math.expm1(result.estimate))


def test_unusable_panels_are_refused_with_a_reason():
    with pytest.raises(DidInputError, match="both groups before and after"):
        did_2x2([1, 2, 3, 4], [1, 1, 1, 1], [0, 1, 0, 1], [1, 1, 2, 2])
    with pytest.raises(DidInputError, match="same in every period"):
        did_panel(
            [1, 2, 3, 4, 5, 6], [1, 1, 1, 2, 2, 2], [0, 1, 2] * 2, [0, 1, 1, 0, 0, 0], [0, 1, 1] * 2
        )
    with pytest.raises(DidInputError, match="positive"):
        did_2x2([0, 2, 3, 4], [0, 0, 1, 1], [0, 1, 0, 1], log_outcome=True)
    with pytest.raises(DidInputError, match="0/1"):
        did_2x2([1, 2, 3, 4], ["a", "b", "c", "d"], [0, 1, 0, 1])


def test_the_cli_recovers_the_effect_of_a_simulated_panel(tmp_path):
    from typer.testing import CliRunner

    from carematch.cli import app

    runner = CliRunner()
    panel = tmp_path / "panel.csv"
    made = runner.invoke(
        app, ["evaluate", "simulate-did", "--out", str(panel), "--seed", "11", "--units", "60"]
    )
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["rows"] == 60 * 8
    found = runner.invoke(
        app,
        ["evaluate", "did", "--panel", str(panel), "--outcome", "visits", "--log"],
    )
    assert found.exit_code == 0, found.output
    summary = json.loads(found.stdout)
    assert summary["method"] == "panel" and summary["units"] == 60
    assert summary["ci_low"] < math.log(1.3) < summary["ci_high"]
    assert summary["relative_ci"][0] < 0.30 < summary["relative_ci"][1]
    missing = runner.invoke(app, ["evaluate", "did", "--panel", str(panel), "--outcome", "x"])
    assert missing.exit_code == 2
    assert "has no column x" in missing.stderr
