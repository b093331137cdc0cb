"""Benchmark: online linking of new records against a city of ~100,000 persons.

Loads a generated city into a fresh SQLite installation, links it in batch, then ingests the
held-back survey extract and links its records one by one (the online path). Prints one JSON
line and rewrites the "online-link" section of docs/benchmarks.md. Baseline in the same run:
an exact-ID look-up of the same records through the blind index (one indexed query each).

Usage: python bench/bench_online_link.py [--residents 100000] [--sample 500]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, update_doc

HELD_BACK = "survey"
BATCH = ("police", "ehr", "insurance", "social_security", "immunization", "poverty")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=500)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cm-bench-online-") as tmp:
        os.environ["CAREMATCH_DATA_DIR"] = str(Path(tmp) / "data")
        os.environ.pop("CAREMATCH_DATABASE_URL", None)
        from sqlalchemy import func, select

        from carematch.core.db import session_scope
        from carematch.core.migrate import upgrade
        from carematch.core.regions import load_regions
        from carematch.identity.models import Person, SourceRecord
        from carematch.identity.service import build_persons, ingest_file, link_records
        from carematch.synth import generate_city

        city = Path(tmp) / "city"
        generate_city(residents=args.residents, seed=args.seed, out=city)
        upgrade()
        with session_scope() as session:
            load_regions(session, city / "regions.csv")
            for source in BATCH:
                ingest_file(session, source, city / f"{source}.csv")
        start = time.perf_counter()
        with session_scope() as session:
            build_persons(session)
        batch_s = time.perf_counter() - start
        with session_scope() as session:
            persons = session.scalar(select(func.count()).select_from(Person)) or 0
            new = ingest_file(session, HELD_BACK, city / f"{HELD_BACK}.csv").new_record_pks
        sample = new[: args.sample]

        online: list[float] = []
        with session_scope() as session:
            for pk in sample:
                t0 = time.perf_counter()
                link_records(session, [pk])
                online.append(time.perf_counter() - t0)
        baseline: list[float] = []
        with session_scope() as session:
            for pk in sample:
                t0 = time.perf_counter()
                record = session.get(SourceRecord, pk)
                if record is not None and record.id_number_bidx:
                    session.scalars(
                        select(Person.id).where(Person.id_number_bidx == record.id_number_bidx)
                    ).all()
                baseline.append(time.perf_counter() - t0)

    online.sort()
    baseline.sort()
    out = {
        "bench": "online-link",
        "date": date.today().isoformat(),
        "machine": machine(),
        "persons": persons,
        "records_linked": len(sample),
        "batch_link_s": round(batch_s, 1),
        "online_median_ms": round(statistics.median(online) * 1000, 1),
        "online_p95_ms": round(online[int(len(online) * 0.95) - 1] * 1000, 1),
        "baseline_exact_id_median_ms": round(statistics.median(baseline) * 1000, 2),
    }
    out["online_vs_exact_id"] = round(
        out["online_median_ms"] / max(out["baseline_exact_id_median_ms"], 0.01), 1
    )
    print(json.dumps(out, sort_keys=True))
    if not args.no_doc:
        table = "\n".join(
            [
                f"### Online linking against {persons:,} persons ({out['date']}, {out['machine']})",
                "",
                "| path | median | p95 |",
                "|---|---|---|",
                f"| online probabilistic link of one new record | {out['online_median_ms']} ms "
                f"| {out['online_p95_ms']} ms |",
                f"| baseline: exact-ID look-up by blind index | "
                f"{out['baseline_exact_id_median_ms']} ms | |",
                "",
                f"Batch linking of the same city took {out['batch_link_s']} s. "
                "Target (issue 3): well under 100 ms per record against 100,000 persons.",
            ]
        )
        update_doc("online-link", out, table)


if __name__ == "__main__":
    main()
