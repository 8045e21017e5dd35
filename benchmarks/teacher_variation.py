"""Verified problem variation on all of GSM8K train: yield, drop reasons, speed, and whether the
variants' derived thoughts verify.

    .venv/bin/python benchmarks/teacher_variation.py [--k 10] [--seed 0] [--verify-sample 500]

Every GSM8K-train problem whose annotations give a dataflow gets ``make_variants(problem, flow, K,
seed)``. Eligible: problems with a givens to vary (not dropped as a whole for "no givens",
"unexplained constant", "rationale inconsistent", "answer not the last step"). Yield: kept / (K x
eligible). Variants/s: kept variants per second of ``make_variants`` time alone (one process).
Then the annotations teacher derives CoT/PoT/EoT from a random sample of variants and the real
verifier checks them against the variant's gold.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time

from _common import SHARED_DATA, machine

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.annotations import derive
from distillery.teacher.config import ANNOTATION_VERSIONS
from distillery.teacher.dataflow import DataflowError, from_annotations
from distillery.teacher.variation import make_variants

PROBLEM_LEVEL = {"no givens", "unexplained constant", "rationale inconsistent", "answer not the last step"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verify-sample", type=int, default=500)
    args = parser.parse_args()
    problems = load_benchmark("gsm8k-train", SHARED_DATA).rows
    flows = []
    for problem in problems:
        try:
            flows.append((problem, from_annotations(problem["question"], problem["rationale"], problem["answer"])))
        except DataflowError:
            continue
    drops: collections.Counter = collections.Counter()
    ineligible: collections.Counter = collections.Counter()
    variants, per_problem = [], collections.Counter()
    elapsed = 0.0
    for problem, flow in flows:
        started = time.perf_counter()
        kept, dropped = make_variants(problem, flow, args.k, args.seed)
        elapsed += time.perf_counter() - started
        problem_level = PROBLEM_LEVEL & set(dropped)
        if problem_level:
            ineligible.update(problem_level)
            continue
        drops.update(dropped)
        variants += kept
        per_problem[len(kept)] += 1
    eligible = sum(per_problem.values())
    report = {
        "benchmark": "teacher_variation", "machine": machine(), "k": args.k, "seed": args.seed,
        "problems": len(problems), "with_dataflow": len(flows), "eligible": eligible,
        "ineligible": dict(ineligible.most_common()), "variants_kept": len(variants),
        "yield": round(len(variants) / (args.k * eligible), 4),
        "problems_with_k_variants": per_problem[args.k],
        "problems_with_no_variant": per_problem[0],
        "drops_per_try": dict(drops.most_common()),
        "variation_s": round(elapsed, 1), "variants_per_s": round(len(variants) / elapsed, 1),
    }
    if args.verify_sample:
        from distillery.verifier.config import VerifierConfig
        from distillery.verifier.records import ThoughtRecord
        from distillery.verifier.verifier import Verifier

        sample = random.Random(args.seed).sample(variants, min(args.verify_sample, len(variants)))
        report["verify_sample"] = {"variants": len(sample)}
        with Verifier(VerifierConfig(workers=2)) as verifier:
            for version in ANNOTATION_VERSIONS:  # every derivation format of the annotations teacher
                records, failures = [], collections.Counter()
                for variant in sample:
                    derived = derive(variant.problem, version)
                    if derived.failure:
                        failures[derived.failure] += 1
                        continue
                    records += [ThoughtRecord(id=variant.problem["id"], thought_type=t, text=text,
                                              gold=variant.problem["answer"]) for t, text in derived.thoughts.items()]
                verified = collections.defaultdict(set)
                for record, verdict in zip(records, verifier.verify_many(records)):
                    if verdict.correct:
                        verified[record.thought_type.value].add(record.id)
                every = set.intersection(*(verified[t] for t in ("cot", "pot", "eot")))
                report["verify_sample"][version] = {
                    "not_derived": dict(failures),
                    "verified_share": {t: round(len(verified[t]) / len(sample), 4) for t in ("cot", "pot", "eot")},
                    "all_three_share": round(len(every) / len(sample), 4),
                }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
