"""Benchmark: Chinese policy search — hit rate and questions per second, against plain BM25.

Over the colloquial question sets (tests/data/policy_questions.jsonl, the tuning set, and
policy_questions_holdout.jsonl, written after the synonym map was frozen), two rankers run
in the same process on the same questions:

- **baseline**: plain BM25 over the same jieba tokens (domain dictionary, stop words), clause
  level, no synonym expansion, no title score, no bigram fallback;
- **engine**: what ``carematch policy search`` uses (carematch/policy/search.py).

For each: top-1 and top-3 hit rate (a question is a hit when one of its right policies is in
the first k) and latency per question (the question set repeated ``--rounds`` times; median of
per-round means). Also the engine's build time (tokenising the library once) and the contract
command's wall time end to end in a child process (start-up and jieba's dictionary included).

Prints one JSON line and rewrites the "policy-search" section of docs/benchmarks.md.

Usage: python bench/bench_policy_search.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, run_measured, update_doc

from carematch.policy.library import default_library
from carematch.policy.search import SearchEngine, policy_documents, tokenizer

ROOT = Path(__file__).resolve().parents[1]
SETS = {
    "tuning": ROOT / "tests" / "data" / "policy_questions.jsonl",
    "holdout": ROOT / "tests" / "data" / "policy_questions_holdout.jsonl",
}


def _questions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def _hit_rate(engine: SearchEngine, questions: list[dict], k: int) -> float:
    hits = sum(bool({h.id for h in engine.search(q["q"], k)} & set(q["ids"])) for q in questions)
    return hits / len(questions)


def _latency_ms(engine: SearchEngine, questions: list[dict], rounds: int) -> float:
    means = []
    for _ in range(rounds):
        start = time.perf_counter()
        for q in questions:
            engine.search(q["q"], 3)
        means.append((time.perf_counter() - start) / len(questions) * 1000)
    return statistics.median(means)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    start = time.perf_counter()
    tokenizer()
    jieba_s = time.perf_counter() - start
    documents = policy_documents(default_library())
    start = time.perf_counter()
    engine = SearchEngine(documents)
    build_ms = (time.perf_counter() - start) * 1000
    baseline = SearchEngine(documents, synonyms={}, title_weight=0.0, dense_weight=0.0)

    sets = {name: _questions(path) for name, path in SETS.items()}
    every = [q for qs in sets.values() for q in qs]
    result: dict = {
        "bench": "policy_search",
        "policies": len(documents),
        "questions": {name: len(qs) for name, qs in sets.items()},
        "jieba_load_s": round(jieba_s, 3),
        "build_ms": round(build_ms, 1),
    }
    for label, ranker in (("baseline", baseline), ("engine", engine)):
        for name, qs in sets.items():
            result[f"{label}_{name}_top1"] = round(_hit_rate(ranker, qs, 1), 3)
            result[f"{label}_{name}_top3"] = round(_hit_rate(ranker, qs, 3), 3)
        ms = _latency_ms(ranker, every, args.rounds)
        result[f"{label}_ms_per_q"] = round(ms, 3)
        result[f"{label}_q_per_s"] = round(1000 / ms)
    result["latency_ratio"] = round(result["engine_ms_per_q"] / result["baseline_ms_per_q"], 2)

    cmd = [
        sys.executable, "-m", "carematch.cli", "policy", "search",
        "--queries", str(SETS["tuning"]), "--top", "3",
    ]  # fmt: skip
    wall, rss = run_measured(cmd, env=dict(os.environ))
    result["cli_wall_s"] = round(wall, 2)
    result["cli_peak_mib"] = round(rss)
    result["machine"] = machine()
    result["load_avg"] = round(os.getloadavg()[0], 1)

    table = "\n".join(
        [
            "## Policy search (`bench/bench_policy_search.py`)",
            "",
            f"{len(documents)} policies; {len(sets['tuning'])} tuning and "
            f"{len(sets['holdout'])} held-out colloquial questions; baseline = plain BM25 on "
            "the same jieba tokens (no synonyms, no title score, no bigram fallback), run in "
            "the same process. Machine: " + result["machine"] + f", load {result['load_avg']}.",
            "",
            "| ranker | tuning top-1 | tuning top-3 | held-out top-1 | held-out top-3 "
            "| ms/question | questions/s |",
            "|---|---|---|---|---|---|---|",
            *(
                f"| {label} | {result[f'{label}_tuning_top1']} | {result[f'{label}_tuning_top3']}"
                f" | {result[f'{label}_holdout_top1']} | {result[f'{label}_holdout_top3']}"
                f" | {result[f'{label}_ms_per_q']} | {result[f'{label}_q_per_s']} |"
                for label in ("baseline", "engine")
            ),
            "",
            f"The engine costs {result['latency_ratio']}× the baseline's latency per question. "
            f"Loading jieba with the user dictionary: {result['jieba_load_s']} s (once per "
            f"process); building the index: {result['build_ms']} ms (once per library). The "
            f"contract command over the tuning set, start-up included: {result['cli_wall_s']} s "
            f"wall, {result['cli_peak_mib']} MiB peak.",
        ]
    )
    update_doc("policy-search", result, table)
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
