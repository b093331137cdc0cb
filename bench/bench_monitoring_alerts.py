"""Benchmark: `carematch monitoring alerts` on a million readings, against a plain Python loop.

Writes a readings file of ``--persons`` persons × ``--days`` days (one to three readings a day,
shuffled, mixed offsets; a quarter of the persons run high), then:

- **contract**: ``carematch monitoring alerts --readings R.csv --out A.csv`` in a child process
  (start-up, CSV parsing, checks and the DuckDB steps), wall time and peak memory;
- **baseline**: the obvious implementation in plain Python (csv module, a dict of days per
  person, a day-by-day walk), in this process, on the same file.

Both must find the same alerts (checked). Prints one JSON line and rewrites the
"monitoring-alerts" section of docs/benchmarks.md.

Usage: python bench/bench_monitoring_alerts.py [--persons 55000 --days 10]  (about 1M readings)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, run_measured, update_doc


def write_readings(path: Path, persons: int, days: int, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    per_day = rng.integers(1, 4, size=(persons, days))
    per_day[rng.random((persons, days)) < 0.1] = 0  # missing days
    person = np.repeat(np.repeat(np.arange(persons), days), per_day.ravel())
    day = np.repeat(np.tile(np.arange(days), persons), per_day.ravel())
    n = person.size
    high_person = rng.random(persons) < 0.25
    p_high = np.where(high_person[person], 0.7, 0.05)
    high = rng.random(n) < p_high
    sbp = np.where(high, rng.integers(140, 180, n), rng.integers(100, 140, n))
    dbp = np.where(high & (rng.random(n) < 0.3), rng.integers(90, 105, n), rng.integers(60, 90, n))
    hour = rng.integers(0, 24, n)
    tz = rng.choice(np.array(["+08:00", "Z", ""]), n)
    order = rng.permutation(n)
    start = date(2026, 3, 1)
    days_iso = [(start + timedelta(days=int(d))).isoformat() for d in range(days)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["person_id", "measured_at", "sbp", "dbp"])
        for i in order:
            w.writerow(
                [
                    f"P{person[i]:07d}",
                    f"{days_iso[day[i]]}T{hour[i]:02d}:30:00{tz[i]}",
                    int(sbp[i]),
                    int(dbp[i]),
                ]
            )
    return n


def baseline(path: Path) -> list[tuple[str, str]]:
    """Plain Python: parse each row, mark high days, walk each person's days in order."""
    high: dict[str, dict[date, bool]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            day = date.fromisoformat(row["measured_at"][:10])
            is_high = float(row["sbp"]) >= 140 or float(row["dbp"]) >= 90
            days = high.setdefault(row["person_id"], {})
            days[day] = days.get(day, False) or is_high
    out = []
    for person in sorted(high):
        run, previous = 0, None
        for day in sorted(high[person]):
            if high[person][day]:
                consecutive = previous is not None and (day - previous).days == 1
                run = run + 1 if consecutive and run else 1
            else:
                run = 0
            previous = day
            if run == 3:
                out.append((person, day.isoformat()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=55_000)
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        readings, out = Path(tmp) / "r.csv", Path(tmp) / "a.csv"
        rows = write_readings(readings, args.persons, args.days)
        cmd = [
            sys.executable, "-m", "carematch.cli", "monitoring", "alerts",
            "--readings", str(readings), "--out", str(out),
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall, rss = run_measured(cmd, env=dict(os.environ))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        with out.open(encoding="utf-8") as handle:
            found = [(r["person_id"], r["alert_date"]) for r in csv.DictReader(handle)]
        start, cpu_start = time.perf_counter(), time.process_time()
        expected = baseline(readings)
        baseline_s = time.perf_counter() - start
        baseline_cpu = time.process_time() - cpu_start
    if found != expected:
        raise SystemExit(f"the contract and the baseline disagree: {len(found)} vs {len(expected)}")
    result = {
        "bench": "monitoring_alerts",
        "readings": rows,
        "persons": args.persons,
        "days": args.days,
        "alerts": len(found),
        "cli_wall_s": round(wall, 2),
        "cli_peak_mib": round(rss),
        "cli_cpu_s": round(cli_cpu, 2),
        "baseline_python_s": round(baseline_s, 2),
        "baseline_cpu_s": round(baseline_cpu, 2),
        "speedup_wall": round(baseline_s / wall, 1),
        "speedup_cpu": round(baseline_cpu / cli_cpu, 1),
        "machine": machine(),
        "load_avg": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result))
    table = "\n".join(
        [
            "## Chronic monitoring alerts (`bench/bench_monitoring_alerts.py`)",
            "",
            f"{rows:,} readings ({args.persons:,} persons × {args.days} days, shuffled, mixed "
            "offsets) through `carematch monitoring alerts` in a child process (start-up "
            "included), against a plain Python loop (csv module, day-by-day walk) in the same "
            "run; both found the same alerts. Machine: "
            + result["machine"]
            + f", load {result['load_avg']}.",
            "",
            "| path | wall s | CPU s | peak MiB | alerts |",
            "|---|---|---|---|---|",
            f"| `carematch monitoring alerts` | {result['cli_wall_s']} | {result['cli_cpu_s']}"
            f" | {result['cli_peak_mib']} | {len(found)} |",
            f"| plain Python baseline | {result['baseline_python_s']} | "
            f"{result['baseline_cpu_s']} | – | {len(expected)} |",
            "",
            "CPU seconds are the fair comparison on a shared machine (wall time waits for a "
            "core); the CLI's include about 1.7 s of start-up (imports).",
        ]
    )
    update_doc("monitoring-alerts", result, table)


if __name__ == "__main__":
    main()
