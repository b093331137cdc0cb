"""Benchmark: probabilistic linkage of ~1,000,000 generated records on DuckDB.

Prints one JSON line and rewrites the "linkage" section of docs/benchmarks.md. The baseline,
in the same run on the same records, is exact-ID linking (records sharing a GB 11643-valid
ID number): its time, precision, recall and F1 beside ours.

Usage: python bench/bench_linkage.py [--residents 200000]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, update_doc

from carematch.identity.linkage import link_frames, pairwise_scores, prepare
from carematch.synth import generate_city

SOURCES = ("police", "ehr", "insurance", "social_security", "immunization", "poverty", "survey")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cm-bench-link-") as tmp:
        city = Path(tmp) / "city"
        generate_city(residents=args.residents, seed=args.seed, out=city)
        frames = {
            s: pd.read_csv(city / f"{s}.csv", dtype=str, keep_default_na=False) for s in SOURCES
        }
        truth_frame = pd.read_csv(city / "truth" / "records.csv", dtype=str)
    truth = dict(
        zip(
            truth_frame["source"] + "\x1f" + truth_frame["record_id"],
            truth_frame["person_id"],
            strict=True,
        )
    )
    records = sum(len(f) for f in frames.values())

    start = time.perf_counter()
    data = prepare(frames)
    exact = {
        uid: (id18 if valid else uid)
        for uid, id18, valid in zip(data["unique_id"], data["id18"], data["id_valid"], strict=True)
    }
    exact_s = time.perf_counter() - start
    baseline = pairwise_scores(exact, truth)

    start = time.perf_counter()
    result = link_frames(frames)
    link_s = time.perf_counter() - start
    predicted = dict(zip(result.clusters["unique_id"], result.clusters["person_key"], strict=True))
    ours = pairwise_scores(predicted, truth)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    out = {
        "bench": "linkage",
        "date": date.today().isoformat(),
        "machine": machine(),
        "engine": "duckdb",
        "residents": args.residents,
        "records": records,
        "link_s": round(link_s, 1),
        "records_per_s": round(records / link_s),
        "peak_mb": round(peak_mb),
        "precision": round(ours["precision"], 6),
        "recall": round(ours["recall"], 6),
        "f1": round(ours["f1"], 6),
        "pairs_scored": result.stats.get("pairs_scored"),
        "review_pairs": result.stats.get("review"),
        "baseline_exact_id_s": round(exact_s, 1),
        "baseline_precision": round(baseline["precision"], 6),
        "baseline_recall": round(baseline["recall"], 6),
        "baseline_f1": round(baseline["f1"], 6),
    }
    print(json.dumps(out, sort_keys=True))
    if not args.no_doc:
        update_doc("linkage", out, _table(out))


def _table(r: dict) -> str:
    return "\n".join(
        [
            f"### Linkage, {r['records']:,} records from {r['residents']:,} residents "
            f"({r['date']}, {r['machine']}, {r['engine']})",
            "",
            "| method | time | precision | recall | F1 |",
            "|---|---|---|---|---|",
            f"| CareMatch (Splink, trained on the input) | {r['link_s']} s "
            f"({r['records_per_s']:,} records/s, peak {r['peak_mb']} MiB) "
            f"| {r['precision']} | {r['recall']} | {r['f1']} |",
            f"| baseline: exact valid ID number | {r['baseline_exact_id_s']} s (normalising "
            f"included) | {r['baseline_precision']} | {r['baseline_recall']} "
            f"| {r['baseline_f1']} |",
            "",
            "Target (issue 3): 1,000,000 records in under 3 minutes on 2 cores.",
        ]
    )


if __name__ == "__main__":
    main()
