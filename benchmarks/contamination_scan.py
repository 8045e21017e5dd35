"""Contamination scan: every GSM8K-train question against the four evaluation benchmarks.

    .venv/bin/python benchmarks/contamination_scan.py [--examples 5]

Builds the teacher's :class:`ContaminationGuard` over GSM8K test, SVAMP, ASDiv and MultiArith
(read from ../shared/data at run time), matches all 7,473 GSM8K-train questions on one core and
prints a JSON summary: questions scanned, refused per benchmark, the pairs just above and just
below the threshold (to judge it by eye), build time and questions/s. Goal: >= 2,000 questions/s.
"""

from __future__ import annotations

import argparse
import json
import time

from _common import SHARED_DATA, machine

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.contamination import NGRAM, THRESHOLD, ContaminationGuard

EVALUATION = ("gsm8k-test", "svamp", "asdiv", "multiarith")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=5, help="pairs shown above and below the threshold")
    args = parser.parse_args()
    evaluation = {name: [(row["id"], row["question"]) for row in load_benchmark(name, SHARED_DATA).rows]
                  for name in EVALUATION}
    questions = {(name, pid): text for name, rows in evaluation.items() for pid, text in rows}
    train = [(row["id"], row["question"]) for row in load_benchmark("gsm8k-train", SHARED_DATA).rows]

    started = time.perf_counter()
    guard = ContaminationGuard.build(evaluation)
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    matches = [(pid, text, guard.match(text)) for pid, text in train]
    elapsed = time.perf_counter() - started
    refused = [(pid, text, m) for pid, text, m in matches if m is not None]

    # The same scan with no threshold, for the pairs just below it.
    everything = ContaminationGuard.build(evaluation, threshold=0.0)
    below = sorted(((m, pid, text) for pid, text in train
                    if (m := everything.match(text)) is not None and m.score < THRESHOLD),
                   key=lambda item: -item[0].score)

    def pair(pid: str, text: str, m) -> dict:
        return {"train": pid, "match": m.describe(), "train_question": text,
                "benchmark_question": questions[(m.benchmark, m.problem_id)]}

    above = sorted(refused, key=lambda item: item[2].score)
    print(json.dumps({
        "machine": machine(),
        "ngram": NGRAM,
        "threshold": THRESHOLD,
        "benchmark_questions_indexed": len(guard),
        "train_questions_scanned": len(train),
        "refused": len(refused),
        "refused_per_benchmark": {name: sum(m.benchmark == name for _, _, m in refused) for name in EVALUATION},
        "refused_ids": [pid for pid, _, _ in refused],
        "just_above_threshold": [pair(pid, text, m) for pid, text, m in above[:args.examples]],
        "just_below_threshold": [pair(pid, text, m) for m, pid, text in below[:args.examples]],
        "below_threshold_0.5_to_threshold": sum(m.score >= 0.5 for m, _, _ in below),
        "build_s": round(build_s, 3),
        "questions_per_s": round(len(train) / elapsed, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
