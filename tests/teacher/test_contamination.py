"""The contamination guard against the real evaluation benchmarks: planted copies are refused,
ordinary GSM8K-train questions pass."""

from __future__ import annotations

import random
import re

import pytest

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.contamination import NGRAM, THRESHOLD, ContaminationGuard, Match

EVALUATION = ("gsm8k-test", "svamp", "asdiv", "multiarith")

# What benchmarks/contamination_scan.py refuses of GSM8K train at THRESHOLD 0.6: by eye, each one
# the same problem as an ASDiv / GSM8K-test one with other names and numbers.
KNOWN_REFUSED = {
    "gsm8k-train-20", "gsm8k-train-53", "gsm8k-train-240", "gsm8k-train-326", "gsm8k-train-653",
    "gsm8k-train-829", "gsm8k-train-1254", "gsm8k-train-1314", "gsm8k-train-2375", "gsm8k-train-2466",
    "gsm8k-train-2600", "gsm8k-train-2841", "gsm8k-train-3228", "gsm8k-train-3465", "gsm8k-train-3726",
    "gsm8k-train-4013", "gsm8k-train-4079", "gsm8k-train-4192", "gsm8k-train-4240", "gsm8k-train-4353",
    "gsm8k-train-5162", "gsm8k-train-5636", "gsm8k-train-5681", "gsm8k-train-6270", "gsm8k-train-6794",
    "gsm8k-train-7071", "gsm8k-train-7253", "gsm8k-train-7321",
}


@pytest.fixture(scope="module")
def questions(shared_data) -> dict[str, dict[str, str]]:
    """benchmark -> problem id -> question, for the four evaluation sets and GSM8K train."""
    return {name: {row["id"]: row["question"] for row in load_benchmark(name, shared_data).rows}
            for name in (*EVALUATION, "gsm8k-train")}


@pytest.fixture(scope="module")
def guard(questions) -> ContaminationGuard:
    return ContaminationGuard.build({name: questions[name].items() for name in EVALUATION})


def new_numbers(question: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) * 3 + 7), question)


def test_index_covers_the_four_evaluation_sets(guard):
    assert guard.benchmarks == ("asdiv", "gsm8k-test", "multiarith", "svamp")
    assert len(guard) == 1319 + 1000 + 2084 + 600


def test_every_evaluation_question_verbatim_and_with_new_numbers_is_refused(guard, questions):
    for name in EVALUATION:
        for problem_id, question in questions[name].items():
            for variant in (question, new_numbers(question)):
                match = guard.match(variant)
                # Some SVAMP/MultiArith/ASDiv rows are each other's copies: any benchmark may own it.
                assert match is not None and match.score == 1.0, (problem_id, variant)


@pytest.mark.parametrize("problem_id", ["gsm8k-test-0", "gsm8k-test-602", "gsm8k-test-1318"])
def test_gsm8k_test_question_and_its_variants_are_refused(guard, questions, problem_id):
    question = questions["gsm8k-test"][problem_id]
    sentences = re.findall(r"[^.?!]+[.?!]", question)
    assert len(sentences) >= 2
    variants = {
        "verbatim": question,
        "new numbers": new_numbers(question),
        "number words": re.sub(r"\b2\b", "two", re.sub(r"\b3\b", "three", question)),
        "lower case": question.lower(),
        "upper case": question.upper(),
        "punctuation and whitespace": "  " + re.sub(r"[,.?!$%]", " ", question).replace(" ", "\n \t ") + " ",
        "unicode": question.replace("'", "\u2019").replace(" ", "\u00a0", 3).replace("-", "\u2013"),
        "sentences reordered": " ".join([sentences[-1], *sentences[:-1]]),
        "clause appended": question + " Round your answer to the nearest whole number, and show your work.",
        "clause prefixed": "This is a question from a school quiz. " + question,
        "new names": re.sub(r"\b(Janet|Tom|He|She|Sam)\b", "Priyanka", question),
    }
    for kind, variant in variants.items():
        match = guard.match(variant)
        assert match is not None, kind
        assert (match.benchmark, match.problem_id) == ("gsm8k-test", problem_id), (kind, match)
        assert THRESHOLD <= match.score <= 1.0, (kind, match)


@pytest.mark.parametrize("benchmark, problem_id", [
    ("svamp", "svamp-chal-1"), ("svamp", "svamp-chal-3"),
    ("asdiv", "asdiv-nluds-0001"), ("asdiv", "asdiv-nluds-0002"),
    ("multiarith", "multiarith-8"), ("multiarith", "multiarith-47"),
])
def test_other_benchmarks_are_refused_and_named(guard, questions, benchmark, problem_id):
    question = questions[benchmark][problem_id]
    for variant in (question, new_numbers(question), question.lower() + "  ",
                    question + " Explain how you got the answer to your teacher."):
        match = guard.match(variant)
        assert match == Match(benchmark, problem_id, match.score), variant
        assert match.score >= THRESHOLD
    assert guard.match(question).describe() == f"matches {benchmark}/{problem_id} (1.00 {NGRAM}-gram overlap)"


def test_calibrated_near_duplicate_in_gsm8k_train_is_refused(guard, questions):
    # "There are 9 bicycles and 16 cars in the garage. How many wheels ..." -- ASDiv's with new numbers.
    match = guard.match(questions["gsm8k-train"]["gsm8k-train-6270"])
    assert (match.benchmark, match.problem_id) == ("asdiv", "asdiv-nluds-1082")
    assert match.score > 0.9  # ASDiv's adds "at Gordon's apartment building"


def test_ordinary_gsm8k_train_questions_pass(guard, questions):
    clean = sorted(set(questions["gsm8k-train"]) - KNOWN_REFUSED)
    sample = random.Random(15).sample(clean, 200)
    refused = {problem_id: guard.match(questions["gsm8k-train"][problem_id]) for problem_id in sample}
    assert {k: v for k, v in refused.items() if v is not None} == {}


def test_known_refusals_are_still_refused(guard, questions):
    """The calibration set is stable: a change to normalisation or scoring shows up here."""
    for problem_id in sorted(KNOWN_REFUSED):
        assert guard.match(questions["gsm8k-train"][problem_id]) is not None, problem_id


def test_empty_guard_matches_nothing():
    guard = ContaminationGuard.build({})
    assert len(guard) == 0 and guard.benchmarks == ()
    for question in ("", "What is 2 plus 3?", "Janet has 3 apples. How many apples does she have left?"):
        assert guard.match(question) is None


def test_empty_questions_never_match():
    guard = ContaminationGuard.build({"b": [("1", ""), ("2", "?!")]})
    assert guard.match("") is None and guard.match("...") is None


def test_short_questions_match_exactly_only():
    guard = ContaminationGuard.build({"mini": [("q1", "What is 5 plus 3?"),
                                               ("q2", "Sam has 12 apples and gives away 5 of them to Kim.")]})
    assert guard.match("what is 40 plus 2") == Match("mini", "q1", 1.0)
    assert guard.match("What is 5 minus 3?") is None  # under NGRAM words: no overlap rule
    # Longer: a shared tail is overlap; the same length with other words is not.
    assert guard.match("Priya has 3 apples and gives away 2 of them to Bo. How many are left?").problem_id == "q2"
    assert guard.match("Sam has 12 pears and sells 5 of them at the market.") is None
