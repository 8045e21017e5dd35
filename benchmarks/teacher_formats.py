"""The annotations teacher's thought formats, old (v1) beside new (v2), on all of GSM8K train.

    .venv/bin/python benchmarks/teacher_formats.py [--limit N] [--workers 2]

Per format and thought type: **yield** (share of problems whose thought the real verifier --
PoT in the sandbox, EoT through our solver, CoT read -- grades correct, as a teacher job does),
**mean tokens** per thought (SmolLM2 tokenizer), for EoT the share of systems holding a true
equation (:func:`distillery.teacher.formats.has_equation`: a line with more than one name on
its left, ``a + b + needed = total``, not a ``name = expression`` definition), and the overlap
between the three texts of one problem (mean Jaccard similarity of two sets):

* ``lines``: normalised lines -- lower-cased, ``#`` / ``%`` comment markers dropped, whitespace
  collapsed; a CoT's lines are its sentences. v1's PoT and EoT share every code *and* comment line.
* ``4grams``: word 4-grams over the whole text (words: names, numbers, operators).

The XoT reference (gpt-3.5's recorded GSM8K-*test* outputs, read from ../shared, format
statistics only) gets the same equation share and overlaps.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import json
import re
import statistics
import sys
import time

from _common import SHARED_DATA, machine, xot_records

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.annotations import derive
from distillery.teacher.config import ANNOTATION_VERSIONS
from distillery.teacher.formats import has_equation
from distillery.verifier.config import VerifierConfig
from distillery.verifier.records import ThoughtRecord
from distillery.verifier.verifier import Verifier

TYPES = ("pot", "eot", "cot")
_TOKEN = re.compile(r"[a-z_][a-z0-9_]*|\d+(?:\.\d+)?|[-+*/=()]")


def normalised_lines(text: str, thought_type: str) -> set[str]:
    if thought_type == "cot":
        parts = re.split(r"(?<=[.?!])\s+", text)
    else:
        parts = text.splitlines()
    lines = {" ".join(part.strip().lstrip("#%").lower().split()) for part in parts}
    return {line for line in lines if line}


def four_grams(text: str) -> set[tuple[str, ...]]:
    words = _TOKEN.findall(text.lower())
    return {tuple(words[i:i + 4]) for i in range(len(words) - 3)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def overlaps(thoughts: list[dict[str, str]]) -> dict[str, dict[str, float]]:
    """Mean Jaccard of each pair of types over the problems that have all three."""
    result = {}
    for first, second in itertools.combinations(TYPES, 2):
        pairs = [(t[first], t[second]) for t in thoughts if first in t and second in t]
        if not pairs:
            continue
        result[f"{first}-{second}"] = {
            "lines": round(statistics.fmean(jaccard(normalised_lines(a, first), normalised_lines(b, second))
                                            for a, b in pairs), 3),
            "4grams": round(statistics.fmean(jaccard(four_grams(a), four_grams(b)) for a, b in pairs), 3),
        }
    return result


def tokenizer():
    from transformers import AutoTokenizer

    from distillery.student.models import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))


def measure_version(version: str, problems: list[dict], verifier: Verifier, tok) -> dict:
    started = time.perf_counter()
    derived = {p["id"]: derive(p, version) for p in problems}
    failures = collections.Counter(d.failure for d in derived.values() if d.failure)
    records = [ThoughtRecord(id=p["id"], thought_type=t, text=derived[p["id"]].thoughts[t], gold=p["answer"])
               for p in problems if not derived[p["id"]].failure for t in TYPES]
    verified: dict[str, set] = collections.defaultdict(set)
    for record, verdict in zip(records, verifier.verify_many(records)):
        if verdict.correct:
            verified[record.thought_type.value].add(record.id)
    thoughts = [d.thoughts for d in derived.values() if not d.failure]
    tokens = {t: round(statistics.fmean(len(tok(th[t])["input_ids"]) for th in thoughts), 1) for t in TYPES}
    eot = [th["eot"] for th in thoughts]
    return {
        "problems": len(problems),
        "derived": len(thoughts),
        "not_derived": dict(failures.most_common(5)),
        "yield": {t: round(len(verified[t]) / len(problems), 4) for t in TYPES},
        "yield_pot_and_eot": round(len(verified["pot"] & verified["eot"]) / len(problems), 4),
        "mean_tokens": tokens,
        "eot_with_equation": round(sum(map(has_equation, eot)) / len(eot), 4),
        "eot_with_equation_verified": round(
            sum(has_equation(d.thoughts["eot"]) for pid, d in derived.items()
                if not d.failure and pid in verified["eot"]) / max(1, len(verified["eot"])), 4),
        "overlap": overlaps(thoughts),
        "seconds": round(time.perf_counter() - started, 1),
    }


def xot_reference(tok) -> dict:
    rows = {t: {r["id"]: r[f"reason/{t}"] for r in xot_records(t)} for t in TYPES}
    thoughts = [{t: rows[t][i] for t in TYPES} for i in sorted(rows["eot"])]
    return {
        "problems": len(thoughts),
        "mean_tokens": {t: round(statistics.fmean(len(tok(th[t])["input_ids"]) for th in thoughts), 1)
                        for t in TYPES},
        "eot_with_equation": round(sum(has_equation(th["eot"]) for th in thoughts) / len(thoughts), 4),
        "overlap": overlaps(thoughts),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=None, help="only the first N problems")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    problems = load_benchmark("gsm8k-train", SHARED_DATA).rows[: args.limit]
    tok = tokenizer()
    report = {"machine": machine(), "gpu": False}
    with Verifier(VerifierConfig(workers=args.workers)) as verifier:
        verifier.start()
        for version in ANNOTATION_VERSIONS:
            report[version] = measure_version(version, problems, verifier, tok)
            print(f"{version}: done in {report[version]['seconds']} s", file=sys.stderr)
    report["xot-gpt-3.5-gsm8k-test"] = xot_reference(tok)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
