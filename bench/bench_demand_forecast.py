"""Benchmark: weekly demand forecasts with the Spring Festival effect against seasonal naive.

Generated series (``carematch.forecasting.synthetic.spring_festival_series``: ~4.5 years of
weekly counts with trend, a yearly cycle, noise and a lunar-aligned Spring Festival surge and
dip) are backtested from rolling origins (default 4 origins, 13 weeks apart, 26 weeks ahead).

Reports, in one JSON line:

- sMAPE of the default model (``auto`` = lunar-aligned profile + AutoETS) and of seasonal naive
  (the baseline), the relative improvement (target, issue 8: at least 15 %), and both models'
  coverage of their 80 % intervals;
- the same for ``arimax`` (AutoARIMA with the holiday regressors as exogenous variables) on the
  first ``--arimax-series`` series, the alternative that was measured before picking the default;
- time per forecast of each, with seasonal naive's as the baseline measured in the same run.

Rewrites the "demand-forecast" section of docs/benchmarks.md.

Usage: python bench/bench_demand_forecast.py [--series 40] [--arimax-series 8] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, update_doc

from carematch.forecasting.backtest import backtest, frame_to_series, improvement
from carematch.forecasting.synthetic import spring_festival_series


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--arimax-series", type=int, default=8)
    parser.add_argument("--years", type=float, default=4.5)
    parser.add_argument("--horizon", type=int, default=26)
    parser.add_argument("--origins", type=int, default=4)
    parser.add_argument("--step", type=int, default=13)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    series = frame_to_series(spring_festival_series(args.series, args.years, seed=args.seed))
    shape = {"horizon": args.horizon, "count": args.origins, "step": args.step}
    main_scores = backtest(series, ("snaive", "auto"), **shape)
    subset = series[: args.arimax_series]
    side = backtest(subset, ("snaive", "auto", "arimax"), **shape) if subset else {}

    naive, model = main_scores["snaive"], main_scores["auto"]
    out: dict = {
        "bench": "demand-forecast",
        "date": date.today().isoformat(),
        "machine": machine(),
        "series": len(series),
        "weeks_per_series": len(series[0].weeks),
        **shape,
        "forecasts": model.forecasts,
        "smape_model": round(model.smape, 2),
        "smape_seasonal_naive": round(naive.smape, 2),
        "improvement": round(improvement(model, naive), 3),
        "coverage80_model": round(model.coverage80, 3),
        "coverage80_seasonal_naive": round(naive.coverage80, 3),
        "model_ms_per_forecast": round(1000 * model.seconds / model.forecasts, 1),
        "baseline_seasonal_naive_ms_per_forecast": round(1000 * naive.seconds / naive.forecasts, 2),
        "model_s": round(model.seconds, 2),
        "baseline_seasonal_naive_s": round(naive.seconds, 3),
    }
    if side:
        out.update(
            {
                "arimax_series": len(subset),
                "arimax_smape": round(side["arimax"].smape, 2),
                "arimax_improvement": round(improvement(side["arimax"], side["snaive"]), 3),
                "arimax_coverage80": round(side["arimax"].coverage80, 3),
                "arimax_ms_per_forecast": round(
                    1000 * side["arimax"].seconds / side["arimax"].forecasts, 1
                ),
                "subset_smape_model": round(side["auto"].smape, 2),
                "subset_smape_seasonal_naive": round(side["snaive"].smape, 2),
            }
        )
    print(json.dumps(out, sort_keys=True))
    if args.no_doc:
        return
    rows = [
        f"### Demand forecasts with the Spring Festival effect ({out['date']}, {out['machine']})",
        "",
        f"{out['series']} generated weekly series of {out['weeks_per_series']} weeks; "
        f"rolling-origin backtest, {args.origins} origins {args.step} weeks apart, "
        f"{args.horizon} weeks ahead ({out['forecasts']} forecasts per method).",
        "",
        "| method | sMAPE | improvement over seasonal naive | 80 % interval coverage "
        "| time per forecast |",
        "|---|---|---|---|---|",
        f"| seasonal naive (baseline) | {out['smape_seasonal_naive']} % | — "
        f"| {out['coverage80_seasonal_naive']} "
        f"| {out['baseline_seasonal_naive_ms_per_forecast']} ms |",
        f"| lunar-aligned profile + AutoETS (default) | {out['smape_model']} % "
        f"| {100 * out['improvement']:.1f} % | {out['coverage80_model']} "
        f"| {out['model_ms_per_forecast']} ms |",
    ]
    if side:
        rows.append(
            f"| AutoARIMA + holiday regressors (first {out['arimax_series']} series only; "
            f"profile+ETS {out['subset_smape_model']} %, naive "
            f"{out['subset_smape_seasonal_naive']} % on them) | {out['arimax_smape']} % "
            f"| {100 * out['arimax_improvement']:.1f} % | {out['arimax_coverage80']} "
            f"| {out['arimax_ms_per_forecast']} ms |"
        )
    rows += [
        "",
        "Target (issue 8): the forecast beats seasonal naive by at least 15 % sMAPE. "
        "The default is the profile + AutoETS model: as accurate as the ARIMAX alternative on "
        "these series at a fraction of its time.",
    ]
    update_doc("demand-forecast", out, "\n".join(rows))


if __name__ == "__main__":
    main()
