"""Difference-in-differences (双重差分) for before/after policy evaluation (R-EV-5).

A policy reaches some units (communities, districts) from some period on; others stay as the
comparison group. The effect is how much more the treated units' outcome changed after the
policy than the comparison units' did, which removes both what differs between the groups all
along and what changed for everyone over time. Two estimators, both plain least squares:

- :func:`did_2x2` — two groups, two periods:
  ``y = a + b·treated + c·post + δ·treated·post``.
- :func:`did_panel` — a panel of units over several periods with unit and period fixed effects
  (two-way fixed effects): ``y_it = α_i + γ_t + δ·D_it``, where ``D_it`` is 1 for a treated
  unit in a post-policy period. The unit effects are absorbed by demeaning within each unit
  (Frisch–Waugh), which is exact for unbalanced panels too.

Observations of one unit are correlated over time, so the standard error is cluster-robust by
unit (CR1: the sandwich estimator with the small-sample factor ``G/(G-1)·(N-1)/(N-K)``) and the
95 % interval uses Student's t with ``G-1`` degrees of freedom, as Stata's ``cluster()`` does.
Ordinary standard errors would be far too small with serially correlated outcomes (Bertrand,
Duflo and Mullainathan 2004).

With ``log_outcome`` the model is fitted to ``log(y)`` and ``δ`` is a proportional effect:
``exp(δ) - 1`` is the relative change (0.30 = "visits rose 30 %").

:func:`simulate_panel` makes a treatment/comparison panel with a known multiplicative effect
(raising outpatient reimbursement raised visits 30 %, the source's figure), group differences in
level, a common time trend and serially correlated noise, so that a test and ``bench/bench_did.py``
can check that the interval covers the injected effect and that the naive before/after
comparison does not. Pure: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
from scipy import stats

DEFAULT_LEVEL = 0.95
# One value per observation: a list, or a numpy array.
Column: TypeAlias = Sequence[Any] | np.ndarray


class DidInputError(ValueError):
    """A panel the estimator cannot use (the message says why)."""


@dataclass(frozen=True)
class DidResult:
    """One difference-in-differences estimate with its cluster-robust interval."""

    method: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    level: float
    observations: int
    units: int
    treated_units: int
    periods: int
    log_outcome: bool

    @property
    def relative_effect(self) -> float | None:
        """``exp(δ) - 1`` for a log outcome (the proportional change); None otherwise."""
        return math.expm1(self.estimate) if self.log_outcome else None

    def covers(self, value: float) -> bool:
        """True when ``value`` lies in the interval."""
        return self.ci_low <= value <= self.ci_high

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if self.log_outcome:
            out["relative_effect"] = self.relative_effect
            out["relative_ci"] = [math.expm1(self.ci_low), math.expm1(self.ci_high)]
        return out


def _arrays(outcome: Column, log_outcome: bool, *columns: Column) -> tuple[np.ndarray, ...]:
    y = np.asarray(outcome, dtype=float)
    n = len(y)
    if any(len(c) != n for c in columns):
        raise DidInputError("every column must have one value per observation")
    if n == 0:
        raise DidInputError("the panel has no observations")
    if not np.all(np.isfinite(y)):
        raise DidInputError("the outcome has missing or non-numeric values")
    if log_outcome:
        if np.any(y <= 0):
            raise DidInputError("a log outcome must be positive in every observation")
        y = np.log(y)
    return (y, *(np.asarray(c) for c in columns))


def _flags(values: np.ndarray, name: str) -> np.ndarray:
    """0/1 (or booleans, or 'true'/'false') as booleans; anything else is refused."""
    if values.dtype == bool:
        return values
    text = np.char.lower(values.astype(str))
    true = np.isin(text, ("1", "true", "1.0", "yes"))
    false = np.isin(text, ("0", "false", "0.0", "no"))
    if not np.all(true | false):
        bad = values[~(true | false)][0]
        raise DidInputError(f"{name} must be 0/1 or true/false, found {bad!r}")
    return true


def _cluster_fit(
    y: np.ndarray, x: np.ndarray, clusters: np.ndarray, column: int, level: float
) -> tuple[float, float, float, float, int]:
    """OLS of y on x; the coefficient of ``column``, its CR1 standard error and interval."""
    n, k = x.shape
    xtx_inv = np.linalg.pinv(x.T @ x)
    beta = xtx_inv @ (x.T @ y)
    residual = y - x @ beta
    _, index = np.unique(clusters, return_inverse=True)
    groups = int(index.max()) + 1
    if groups < 2:
        raise DidInputError("cluster-robust errors need at least two units")
    scores = np.zeros((groups, k))
    np.add.at(scores, index, x * residual[:, None])
    meat = scores.T @ scores
    factor = groups / (groups - 1) * (n - 1) / max(n - k, 1)
    cov = factor * xtx_inv @ meat @ xtx_inv
    se = float(math.sqrt(max(cov[column, column], 0.0)))
    t = float(stats.t.ppf(0.5 + level / 2, groups - 1))
    estimate = float(beta[column])
    return estimate, se, estimate - t * se, estimate + t * se, groups


def did_2x2(
    outcome: Column,
    treated: Column,
    post: Column,
    unit: Column | None = None,
    *,
    log_outcome: bool = False,
    level: float = DEFAULT_LEVEL,
) -> DidResult:
    """Two-group, two-period DiD: the interaction coefficient of treated × post.

    Args:
        outcome: one value per observation.
        treated: whether the observation's unit is in the treated group.
        post: whether the observation is after the policy.
        unit: the unit of each observation (the clusters); each observation is its own
            unit when omitted.
        log_outcome: fit ``log(outcome)`` (the estimate is then proportional).
        level: confidence level of the interval.

    Returns:
        The estimate with its cluster-robust standard error and interval.

    Examples:
        >>> r = did_2x2([10, 12, 10, 16, 11, 13, 9, 17], [0, 0, 1, 1, 0, 0, 1, 1],
        ...             [0, 1, 0, 1, 0, 1, 0, 1], unit=[1, 1, 2, 2, 3, 3, 4, 4])
        >>> round(r.estimate, 6)
        5.0
    """
    units = unit if unit is not None else list(range(len(outcome)))
    y, d, p, g = _arrays(outcome, log_outcome, treated, post, units)
    d, p = _flags(d, "treated"), _flags(p, "post")
    cells = {(a, b) for a, b in zip(d.tolist(), p.tolist(), strict=True)}
    if len(cells) < 4:
        raise DidInputError("DiD needs observations of both groups before and after the policy")
    x = np.column_stack([np.ones(len(y)), d, p, d & p]).astype(float)
    estimate, se, low, high, groups = _cluster_fit(y, x, g, 3, level)
    return DidResult(
        "2x2",
        estimate,
        se,
        low,
        high,
        level,
        len(y),
        groups,
        len(set(g[d].tolist())),
        2,
        log_outcome,
    )


def did_panel(
    outcome: Column,
    unit: Column,
    period: Column,
    treated: Column,
    post: Column,
    *,
    log_outcome: bool = False,
    level: float = DEFAULT_LEVEL,
) -> DidResult:
    """Panel DiD with unit and period fixed effects, clustered by unit.

    ``treated`` marks the units the policy reaches (constant within a unit) and ``post`` the
    periods after it starts; the effect is the coefficient of ``treated·post``.

    Args:
        outcome: one value per observation (unit × period).
        unit: the unit of each observation.
        period: the period of each observation (any sortable labels).
        treated: whether the unit is treated.
        post: whether the period is after the policy.
        log_outcome: fit ``log(outcome)``.
        level: confidence level of the interval.

    Returns:
        The estimate with its cluster-robust standard error and interval.
    """
    y, g, t, d, p = _arrays(outcome, log_outcome, unit, period, treated, post)
    d, p = _flags(d, "treated"), _flags(p, "post")
    _, unit_index = np.unique(g, return_inverse=True)
    treated_per_unit = np.zeros(unit_index.max() + 1)
    np.add.at(treated_per_unit, unit_index, d.astype(float))
    counts = np.bincount(unit_index)
    share = treated_per_unit / counts
    if np.any((share > 0) & (share < 1)):
        raise DidInputError("treated must be the same in every period of a unit")
    exposure = (d & p).astype(float)
    if exposure.max() == 0 or d.all() or not d.any() or p.all() or not p.any():
        raise DidInputError(
            "DiD needs treated and comparison units observed before and after the policy"
        )
    periods, period_index = np.unique(t.astype(str), return_inverse=True)
    # Period dummies (the first is the reference) and the treatment, demeaned within unit.
    dummies = np.zeros((len(y), len(periods) - 1))
    rows = np.nonzero(period_index > 0)[0]
    dummies[rows, period_index[rows] - 1] = 1.0
    x = np.column_stack([exposure, dummies])

    def within(values: np.ndarray) -> np.ndarray:
        sums = np.zeros((counts.size, *values.shape[1:]))
        np.add.at(sums, unit_index, values)
        return values - (sums / counts.reshape(-1, *([1] * (values.ndim - 1))))[unit_index]

    estimate, se, low, high, groups = _cluster_fit(within(y), within(x), g, 0, level)
    return DidResult(
        "panel",
        estimate,
        se,
        low,
        high,
        level,
        len(y),
        groups,
        int(np.count_nonzero(share == 1)),
        len(periods),
        log_outcome,
    )


def did(
    outcome: Column,
    unit: Column,
    period: Column,
    treated: Column,
    post: Column,
    *,
    log_outcome: bool = False,
    level: float = DEFAULT_LEVEL,
) -> DidResult:
    """The 2×2 estimator for two periods, the fixed-effects panel estimator for more."""
    if len(set(np.asarray(period).astype(str).tolist())) <= 2:
        return did_2x2(outcome, treated, post, unit, log_outcome=log_outcome, level=level)
    return did_panel(outcome, unit, period, treated, post, log_outcome=log_outcome, level=level)


@dataclass(frozen=True)
class Panel:
    """A generated treatment/comparison panel (one row per unit × period)."""

    unit: np.ndarray
    period: np.ndarray
    treated: np.ndarray
    post: np.ndarray
    outcome: np.ndarray
    effect: float

    @property
    def true_log_effect(self) -> float:
        """The injected effect on the log scale (what a log-outcome DiD estimates)."""
        return math.log1p(self.effect)

    def rows(self) -> list[dict[str, Any]]:
        """The panel as rows (``unit, period, treated, post, visits``) for a CSV."""
        return [
            {
                "unit": f"U{u:04d}",
                "period": int(t),
                "treated": int(d),
                "post": int(p),
                "visits": round(float(y), 4),
            }
            for u, t, d, p, y in zip(
                self.unit, self.period, self.treated, self.post, self.outcome, strict=True
            )
        ]


def simulate_panel(
    rng: np.random.Generator,
    *,
    units: int = 40,
    periods: int = 8,
    policy_period: int = 4,
    treated_share: float = 0.5,
    effect: float = 0.30,
    base_visits: float = 200.0,
    trend: float = 0.04,
    group_gap: float = 0.25,
    unit_sd: float = 0.2,
    noise_sd: float = 0.1,
    rho: float = 0.5,
) -> Panel:
    """A panel of outpatient visits per 1,000 residents with a known policy effect.

    Each unit has its own level (``unit_sd`` on the log scale), treated units start
    ``group_gap`` higher (they were chosen because they needed it: the comparison across
    groups is biased), every unit shares a time trend of ``trend`` per period (the
    before/after comparison is biased), and the noise is AR(1) with correlation ``rho`` within
    a unit. From ``policy_period`` on, treated units' visits are multiplied by ``1 + effect``.
    """
    if not 0 < policy_period < periods:
        raise DidInputError("the policy must start after the first period and before the last")
    n_treated = max(1, min(units - 1, round(units * treated_share)))
    treated_unit = np.zeros(units, dtype=bool)
    treated_unit[rng.choice(units, n_treated, replace=False)] = True
    level = math.log(base_visits) + rng.normal(0, unit_sd, units) + group_gap * treated_unit
    noise = np.empty((units, periods))
    noise[:, 0] = rng.normal(0, noise_sd, units)
    innovation = noise_sd * math.sqrt(1 - rho**2)
    for t in range(1, periods):
        noise[:, t] = rho * noise[:, t - 1] + rng.normal(0, innovation, units)
    season = rng.normal(0, 0.03, periods)  # period shocks common to every unit
    time = np.arange(periods)
    post = time >= policy_period
    log_y = (
        level[:, None]
        + trend * time[None, :]
        + season[None, :]
        + noise
        + math.log1p(effect) * (treated_unit[:, None] & post[None, :])
    )
    return Panel(
        unit=np.repeat(np.arange(units), periods),
        period=np.tile(time, units),
        treated=np.repeat(treated_unit, periods),
        post=np.tile(post, units),
        outcome=np.exp(log_y).ravel(),
        effect=effect,
    )


def naive_before_after(panel: Panel) -> float:
    """The treated units' mean log change from before to after: the biased baseline."""
    y = np.log(panel.outcome)
    treated = panel.treated
    return float(y[treated & panel.post].mean() - y[treated & ~panel.post].mean())


@dataclass(frozen=True)
class Coverage:
    """How often the interval covered the injected effect over many simulated panels."""

    simulations: int
    covered: int
    mean_bias: float
    naive_mean_bias: float
    mean_ci_width: float

    @property
    def rate(self) -> float:
        return self.covered / self.simulations


def coverage(simulations: int, seed: int, *, effect: float = 0.30, **panel: Any) -> Coverage:
    """Simulate ``simulations`` panels, fit DiD on log visits (:func:`did`), count coverage."""
    rng = np.random.default_rng(seed)
    covered = 0
    bias = naive = width = 0.0
    for _ in range(simulations):
        p = simulate_panel(rng, effect=effect, **panel)
        r = did(p.outcome, p.unit, p.period, p.treated, p.post, log_outcome=True)
        truth = p.true_log_effect
        covered += r.covers(truth)
        bias += r.estimate - truth
        naive += naive_before_after(p) - truth
        width += r.ci_high - r.ci_low
    return Coverage(
        simulations, covered, bias / simulations, naive / simulations, width / simulations
    )
