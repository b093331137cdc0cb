"""Benchmark: generate a synthetic city and ingest every extract.

Prints one JSON line and rewrites the "generate-ingest" section of docs/benchmarks.md.
Baselines in the same run, so the ratios survive a noisy machine:
- generate: pyarrow reading and rewriting the generated CSVs (pure I/O and formatting floor);
- ingest: Python's csv module reading the same extracts without validating or storing them.

Usage: python bench/bench_generate_ingest.py --residents 100000 [--generate-only]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, run_measured, update_doc

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--generate-only", action="store_true")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    carematch = str(Path(sys.executable).with_name("carematch"))

    with tempfile.TemporaryDirectory(prefix="cm-bench-") as tmp:
        city = Path(tmp) / "city"
        env = dict(os.environ, CAREMATCH_DATA_DIR=str(Path(tmp) / "data"))
        env.pop("CAREMATCH_DATABASE_URL", None)
        gen_s, gen_mb = run_measured(
            [
                carematch,
                "generate",
                "--residents",
                str(args.residents),
                "--seed",
                str(args.seed),
                "--out",
                str(city),
            ],
            env,
        )
        files = sorted(city.rglob("*.csv"))
        out_rows = sum(_count_rows(p) for p in files)
        t0 = time.perf_counter()
        for p in files:
            pacsv.write_csv(pacsv.read_csv(p), Path(tmp) / "copy.csv")
        io_s = time.perf_counter() - t0
        result: dict = {
            "bench": "generate-ingest",
            "date": date.today().isoformat(),
            "machine": machine(),
            "residents": args.residents,
            "generate_s": round(gen_s, 2),
            "generate_peak_mb": round(gen_mb),
            "generated_rows": out_rows,
            "generate_rows_per_s": round(out_rows / gen_s),
            "baseline_csv_rewrite_s": round(io_s, 2),
            "generate_vs_rewrite": round(gen_s / io_s, 2),
        }
        if not args.generate_only:
            extracts = [city / f"{s}.csv" for s in SOURCES if (city / f"{s}.csv").exists()]
            rows = sum(_count_rows(p) for p in extracts)
            load_s, load_mb = run_measured([carematch, "load", str(city)], env)
            t0 = time.perf_counter()
            for p in extracts:
                with p.open(encoding="utf-8", newline="") as handle:
                    for _ in csv.reader(handle):
                        pass
            parse_s = time.perf_counter() - t0
            result |= {
                "ingest_rows": rows,
                "ingest_s": round(load_s, 2),
                "ingest_peak_mb": round(load_mb),
                "ingest_rows_per_s": round(rows / load_s),
                "baseline_csv_parse_rows_per_s": round(rows / parse_s),
                "ingest_vs_csv_parse": round(load_s / parse_s, 1),
            }
    print(json.dumps(result, sort_keys=True))
    if not args.no_doc:
        update_doc(f"generate-ingest-{args.residents}", result, _table(result))


def _count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return max(sum(1 for _ in handle) - 1, 0)


def _table(r: dict) -> str:
    lines = [
        f"### Generate + ingest, {r['residents']:,} residents ({r['date']}, {r['machine']})",
        "",
        "| step | time | peak memory | rows/s | baseline in the same run | ratio |",
        "|---|---|---|---|---|---|",
        f"| generate | {r['generate_s']} s | {r['generate_peak_mb']} MiB "
        f"| {r['generate_rows_per_s']:,} "
        f"| pyarrow re-read + re-write of the output: {r['baseline_csv_rewrite_s']} s "
        f"| {r['generate_vs_rewrite']}× |",
    ]
    if "ingest_s" in r:
        lines.append(
            f"| ingest (load: 7 extracts, validate, encrypt, store, persons) | {r['ingest_s']} s "
            f"| {r['ingest_peak_mb']} MiB | {r['ingest_rows_per_s']:,} "
            f"| csv.reader only: {r['baseline_csv_parse_rows_per_s']:,} rows/s "
            f"| {r['ingest_vs_csv_parse']}× |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
