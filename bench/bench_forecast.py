"""Benchmark: the vaccination forecaster, as the CLI contract and as the city-wide feature.

1. ``carematch vaccination forecast`` on 1,000 children's cases in its own process, start-up
   included (target, issue 6: under 10 s). Baseline in the same run: a child Python process that
   only parses and re-serialises the same JSON lines.
2. ``doses_overdue`` for a city of ``--persons`` people (ages spread over 0-89 years; the
   children's histories come from the synthetic-city generator, with its misses) through
   ``count_overdue_batch`` (target: well under 0.5 ms per person). Baseline in the same run:
   only reading every person's dose text.

Prints one JSON line and rewrites the "vaccination-forecast" section of docs/benchmarks.md.

Usage: python bench/bench_forecast.py [--cases 1000] [--persons 1000000] [--no-doc]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, run_measured, update_doc

from carematch.synth.dates import AS_OF, AS_OF_D, age_in_years
from carematch.synth.vaccination import generate_histories
from carematch.synth.vaccination import load_schedule as load_generator_schedule
from carematch.vaccination.forecast import count_overdue_batch, forecast, parse_registry_doses
from carematch.vaccination.schedule import default_schedule

SCHEDULE_FILE = Path(__file__).resolve().parents[1] / "carematch" / "data" / "nip_schedule.yaml"
CHILD_YEARS = 15


def dose_texts(birth: np.ndarray, seed: int) -> list[str]:
    """Registry dose text for children born on ``birth``, as the city generator makes them."""
    rng = np.random.default_rng(seed)
    migrant = rng.random(birth.size) < 0.3
    schedule = load_generator_schedule()
    truth = generate_histories(rng, schedule, birth, migrant, age_in_years(birth))
    pieces: list[list[str]] = [[] for _ in range(birth.size)]
    for child, series, day in zip(truth.child, truth.series, truth.date, strict=True):
        pieces[child].append(f"{schedule.codes[series]}:{day}")
    return ["|".join(p) for p in pieces]


def write_cases(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    birth = AS_OF_D - rng.integers(0, CHILD_YEARS * 365, n)
    texts = dose_texts(birth, seed)
    with path.open("w", encoding="utf-8") as out:
        for i, (born, text) in enumerate(zip(birth, texts, strict=True)):
            history = [
                {"series": code, "date": day}
                for code, _, day in (p.partition(":") for p in text.split("|") if p)
            ]
            case = {"id": i, "dob": str(born), "as_of": AS_OF.isoformat(), "history": history}
            out.write(json.dumps(case) + "\n")


def bench_cli(n: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="cm-bench-forecast-") as tmp:
        cases = Path(tmp) / "cases.jsonl"
        write_cases(cases, n, seed)
        cli_s, cli_mb = run_measured(
            [
                sys.executable,
                "-m",
                "carematch.cli",
                "vaccination",
                "forecast",
                "--schedule",
                str(SCHEDULE_FILE),
                "--cases",
                str(cases),
            ]
        )
        parse = (
            "import json, sys\n"
            "for line in open(sys.argv[1], encoding='utf-8'):\n"
            "    sys.stdout.write(json.dumps(json.loads(line)) + '\\n')\n"
        )
        base_s, _ = run_measured([sys.executable, "-c", parse, str(cases)])
        # In-process: the engine alone, with the cases already parsed.
        from carematch.vaccination.schemas import read_case

        parsed = [read_case(json.loads(line)) for line in cases.read_text().splitlines()]
        schedule = default_schedule()
        start = time.perf_counter()
        for case in parsed:
            forecast(schedule, case.dob, case.as_of, case.history)
        engine_s = time.perf_counter() - start
    return {
        "cases": n,
        "cli_s": round(cli_s, 2),
        "cli_peak_mb": round(cli_mb),
        "baseline_json_roundtrip_s": round(base_s, 2),
        "engine_us_per_case": round(engine_s / n * 1e6, 1),
    }


def bench_city(persons: int, seed: int) -> dict:
    rng = np.random.default_rng(seed + 1)
    birth = AS_OF_D - rng.integers(0, 90 * 365, persons)
    is_child = birth > AS_OF_D - CHILD_YEARS * 365
    texts: list[str | None] = [None] * persons
    child_rows = np.flatnonzero(is_child)
    for row, text in zip(child_rows, dose_texts(birth[child_rows], seed), strict=True):
        texts[row] = text
    epoch = date(1970, 1, 1)
    births: list[date | None] = [epoch + timedelta(days=int(d)) for d in birth.astype(np.int64)]
    schedule = default_schedule()

    start = time.perf_counter()
    counts = count_overdue_batch(schedule, AS_OF, births, texts)
    batch_s = time.perf_counter() - start
    start = time.perf_counter()
    for text in texts:
        parse_registry_doses(text)
    parse_s = time.perf_counter() - start
    return {
        "persons": persons,
        "children": int(child_rows.size),
        "children_overdue": int(sum(1 for row in child_rows if counts[row])),
        # Teenagers past the registry's age range (it lists children up to 14) have no doses on
        # record, so every series still open before its 18y max age counts for them.
        "persons_overdue": int(sum(1 for c in counts if c)),
        "batch_s": round(batch_s, 2),
        "us_per_person": round(batch_s / persons * 1e6, 2),
        "us_per_child_upper_bound": round(batch_s / max(child_rows.size, 1) * 1e6, 1),
        "baseline_read_text_s": round(parse_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    cli = bench_cli(args.cases, args.seed)
    city = bench_city(args.persons, args.seed)
    out = {
        "bench": "vaccination-forecast",
        "date": date.today().isoformat(),
        "machine": machine(),
        **cli,
        **{f"city_{k}": v for k, v in city.items()},
    }
    out["cli_vs_json_roundtrip"] = round(
        cli["cli_s"] / max(cli["baseline_json_roundtrip_s"], 0.01), 1
    )
    out["city_vs_read_text"] = round(city["batch_s"] / max(city["baseline_read_text_s"], 0.01), 1)
    print(json.dumps(out, sort_keys=True))
    if args.no_doc:
        return
    table = "\n".join(
        [
            f"### Vaccination forecaster ({out['date']}, {out['machine']})",
            "",
            "| run | time | baseline in the same run | ratio |",
            "|---|---|---|---|",
            f"| `carematch vaccination forecast`, {cli['cases']:,} children's cases, own process "
            f"(start-up included; peak {cli['cli_peak_mb']} MiB) | {cli['cli_s']} s "
            f"| parse + re-serialise the same JSON lines in a child process: "
            f"{cli['baseline_json_roundtrip_s']} s | {out['cli_vs_json_roundtrip']}× |",
            f"| `doses_overdue` for {city['persons']:,} persons ({city['children']:,} children "
            f"under {CHILD_YEARS}, {city['children_overdue']:,} of them with overdue doses) via "
            f"`count_overdue_batch` | {city['batch_s']} s ({city['us_per_person']} µs/person) "
            f"| reading every dose text only: {city['baseline_read_text_s']} s "
            f"| {out['city_vs_read_text']}× |",
            "",
            f"The engine alone takes {cli['engine_us_per_case']} µs per child's full forecast. "
            "Targets (issue 6): 1,000 cases under 10 s through the CLI; well under 0.5 ms per "
            "person for the city-wide feature.",
        ]
    )
    update_doc("vaccination-forecast", out, table)


if __name__ == "__main__":
    main()
