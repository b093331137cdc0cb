"""Benchmark: the features view and every demand tag for a 1,000,000-person city on DuckDB.

Issue 4 acceptance: "Features and tags for 1,000,000 persons on DuckDB in under 5 minutes".

1. Generate a city of ``--residents`` (``carematch generate``, its own process) unless
   ``--city`` names one already generated.
2. Read the inputs columnar with carematch.profiling.extracts: every departmental extract
   typed like ingest, joined to its person through the city's ``truth/records.csv``. That
   file has exactly the shape of the linkage output (``source,record_id,person_id``, what
   ``carematch link`` writes), so this measures the pipeline, not the linker.
3. Baseline in the same run: one DuckDB scan counting the rows of every input table.
4. Time ``compute_features`` (each named SQL step, the vaccination forecaster included) and
   ``tags.evaluate_batch`` over the shipped 34-tag library, explanations included (target:
   the two together under 300 s).

Reports persons, tag instances, seconds per step and peak RSS of this process (the generator
runs in a child, measured on its own). Prints one JSON line and rewrites the "features"
section of docs/benchmarks.md.

Usage: python bench/bench_features.py [--residents 1000000] [--seed 2026] [--city DIR]
       [--keep] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, run_measured, update_doc

from carematch.profiling import extracts
from carematch.profiling.features import SOURCE_COLUMNS, compute_features
from carematch.profiling.tags import default_library, evaluate_batch
from carematch.synth.dates import AS_OF
from carematch.vaccination.forecast import count_overdue_batch
from carematch.vaccination.schedule import default_schedule

TARGET_S = 300.0


def _overdue(as_of, births, doses):  # type: ignore[no-untyped-def]
    """The vaccination forecaster's batch count, as the profiling service calls it."""
    return count_overdue_batch(default_schedule(), as_of, births, doses)


def _carematch() -> list[str]:
    script = Path(sys.executable).with_name("carematch")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from carematch.cli import app; app()"]


def _rss_mib() -> float:
    """Resident memory of this process now (MiB)."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(city: Path) -> dict:
    """Time every stage over an already generated city."""
    import duckdb

    result: dict = {}
    start = time.perf_counter()
    mapping = extracts.read_mapping(city / "truth" / "records.csv")
    persons, sources = extracts.read_city(city, mapping)
    result["read_s"] = round(time.perf_counter() - start, 2)
    result["records"] = sum(t.num_rows for t in sources.values())
    del mapping
    result["rss_after_read_mib"] = round(_rss_mib())

    con = duckdb.connect()
    start = time.perf_counter()
    con.register("persons", persons)
    counts = {"persons": con.sql("SELECT count(*) FROM persons").fetchall()[0][0]}
    for source in SOURCE_COLUMNS:
        con.register(f"src_{source}", sources[source])
        counts[source] = con.sql(f"SELECT count(*) FROM src_{source}").fetchall()[0][0]
    result["baseline_scan_s"] = round(time.perf_counter() - start, 3)
    result["rows"] = counts
    con.close()

    steps: dict[str, float] = {}
    last = [time.perf_counter(), ""]

    def progress(step: str) -> None:
        now = time.perf_counter()
        if last[1]:
            steps[str(last[1])] = round(now - float(last[0]), 2)
        last[0], last[1] = now, step

    start = time.perf_counter()
    features = compute_features(persons, sources, AS_OF, _overdue, progress=progress)
    result["features_s"] = round(time.perf_counter() - start, 2)
    progress("")
    result["feature_steps_s"] = steps
    result["persons"] = features.num_rows
    del sources, persons
    result["rss_after_features_mib"] = round(_rss_mib())

    library = default_library()
    start = time.perf_counter()
    instances = evaluate_batch(features, library, AS_OF)
    result["tags_s"] = round(time.perf_counter() - start, 2)
    result["tags"] = len(library.tags)
    result["tag_instances"] = len(instances)
    result["persons_tagged"] = len({i.person_id for i in instances})
    result["by_tag"] = dict(sorted(Counter(i.tag for i in instances).items()))
    result["features_and_tags_s"] = round(result["features_s"] + result["tags_s"], 2)

    # The policy-execution indicators (issue 8) evaluate every policy of the library over this
    # same features view: one compiled query, unpivoted, counted per policy in DuckDB.
    import duckdb

    from carematch.policy.library import default_library as policy_library
    from carematch.policy.population import ELIGIBLE, register_eligibility

    policies = policy_library()
    start = time.perf_counter()
    with duckdb.connect() as con:
        register_eligibility(con, features, policies, AS_OF)
        per_policy = con.execute(
            f"SELECT policy_id, count(*) FROM {ELIGIBLE} GROUP BY policy_id"
        ).fetchall()
    result["policy_eligibility_s"] = round(time.perf_counter() - start, 2)
    result["policies"] = len(policies)
    result["policy_eligible_pairs"] = sum(int(n) for _, n in per_policy)
    result["target_s"] = TARGET_S
    result["within_target"] = result["features_and_tags_s"] < TARGET_S
    result["peak_rss_mib"] = round(_peak_mib())
    return result


def table(r: dict) -> str:
    steps = ", ".join(f"{k} {v} s" for k, v in r["feature_steps_s"].items())
    gen = (
        f"{r['generate_s']} s, peak RSS {r['generate_peak_rss_mib']} MiB (own process)"
        if "generate_s" in r
        else "reused an existing city"
    )
    return "\n".join(
        [
            "## Features and demand tags (issue 4)",
            "",
            f"Machine: {r['machine']}, load average {r['load_avg_at_start']} at the start. "
            "Command: `.venv/bin/python bench/bench_features.py "
            f"--residents {r['residents']}`. City: seed {r['seed']}, as of {r['as_of']}; "
            "inputs read with `carematch.profiling.extracts` through `truth/records.csv` "
            "(the same `source,record_id,person_id` shape as the linkage output).",
            "",
            "| stage | persons / rows | seconds |",
            "|---|---:|---:|",
            f"| generate the city | {r['residents']:,} residents | {gen} |",
            f"| read and type every extract, join to persons | {r['records']:,} records "
            f"| {r['read_s']} |",
            f"| baseline: DuckDB count(*) over every input table | {r['records']:,} records "
            f"| {r['baseline_scan_s']} |",
            f"| **features** (`compute_features`) | {r['persons']:,} persons "
            f"| **{r['features_s']}** |",
            f"| **tags** (`evaluate_batch`, {r['tags']} tags, explanations included) "
            f"| {r['tag_instances']:,} tag instances on {r['persons_tagged']:,} persons "
            f"| **{r['tags_s']}** |",
            f"| **features + tags** (target < {r['target_s']:.0f} s) | | "
            f"**{r['features_and_tags_s']}** |",
            f"| policy eligibility (`register_eligibility`, {r['policies']} policies, counted "
            "per policy as the policy-execution indicators do) "
            f"| {r['policy_eligible_pairs']:,} (person, policy) pairs "
            f"| {r['policy_eligibility_s']} |",
            "",
            f"Feature steps: {steps}.",
            f"Peak RSS of the benchmark process: {r['peak_rss_mib']:,} MiB (after reading "
            f"{r['rss_after_read_mib']:,} MiB, after features {r['rss_after_features_mib']:,} "
            "MiB).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--city", type=Path, help="reuse a city `carematch generate` wrote")
    parser.add_argument("--keep", action="store_true", help="keep the generated city")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite the doc")
    args = parser.parse_args()

    result: dict = {
        "benchmark": "features",
        "machine": machine(),
        "residents": args.residents,
        "seed": args.seed,
        "as_of": AS_OF.isoformat(),
        # The machine may be shared: the load when the run began says how much it was.
        "load_avg_at_start": round(os.getloadavg()[0], 2),
    }
    work = None
    city = args.city
    if city is None:
        work = Path(tempfile.mkdtemp(prefix="bench-features-"))
        city = work / "city"
        size, seed = str(args.residents), str(args.seed)
        cmd = [*_carematch(), "generate", "--residents", size, "--seed", seed, "--out", str(city)]
        wall, peak = run_measured(cmd)
        result["generate_s"] = round(wall, 1)
        result["generate_peak_rss_mib"] = round(peak)
    else:
        manifest = json.loads((city / "manifest.json").read_text())
        result["residents"], result["seed"] = manifest["residents"], manifest["seed"]
    try:
        result |= run(city)
    finally:
        if work is not None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif work is not None:
            print(f"city kept in {city}", file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    if not args.no_doc:
        update_doc("features", result, table(result))


if __name__ == "__main__":
    main()
