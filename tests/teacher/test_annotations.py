"""The annotations teacher: thoughts derived from gold rationales, checked by the real verifier."""

from __future__ import annotations

import collections

import pytest

from distillery.registry.benchmarks import load_benchmark
from distillery.teacher.annotations import derive, derive_equation, derive_gsm8k
from distillery.teacher.config import ANNOTATION_VERSIONS, DEFAULT_ANNOTATION_VERSION
from distillery.verifier.records import ThoughtRecord

RATIONALE = ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
             "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72")
QUESTION = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."


def test_gsm8k_steps_become_a_dataflow_program():
    derived = derive_gsm8k(RATIONALE.split("####")[0], 72.0, QUESTION)
    assert derived.failure is None
    assert derived.thoughts["pot"].splitlines() == [
        "# Natalia sold 48/2 = 24 clips in May.", "clips_may = 48 / 2",
        "# Natalia sold 48+24 = 72 clips altogether in April and May.", "clips_altogether_april = 48 + clips_may",
        "ans = clips_altogether_april"]
    assert derived.thoughts["eot"].splitlines()[0] == "% Natalia sold 48/2 = 24 clips in May."
    assert derived.thoughts["cot"].endswith("in April and May. The answer is 72.")
    assert "<<" not in derived.thoughts["cot"]


def test_unannotated_final_step_is_recovered_and_question_numbers_stay_literals():
    rationale = ("The paints cost $1.50 + $4.35 = $<<1.5+4.35=5.85>>5.85.\n"
                 "She needs $5.85 − $1.50 = $4.35 more.")
    derived = derive_gsm8k(rationale, 4.35, "Paints cost $1.50 and brushes $4.35.")
    program = derived.thoughts["pot"]
    assert program.splitlines()[-2].endswith("= paints_cost - 1.5")  # 1.50 is given, not a result
    assert program.splitlines()[-1].startswith("ans = ")


@pytest.mark.parametrize("rationale, gold, failure", [
    ("No arithmetic here at all.", 3.0, "no calculations"),
    ("2 + 2 = <<2+2=4>>4 apples.", 5.0, "answer not computed"),
])
def test_failures_are_classified(rationale, gold, failure):
    assert failure in derive_gsm8k(rationale, gold).failure


@pytest.mark.parametrize("equation, expected", [
    ("( 76.0 - 25.0 )", "ans = (76 - 25)"),
    ("X=((32.0+42.0)-35.0)", "ans = ((32 + 42) - 35)"),
    ("7+2=9", "ans = 7 + 2"),
    ("4.50*3=13.5", "ans = 4.5 * 3"),
])
def test_single_equation_benchmarks(equation, expected):
    assert derive_equation(equation, 1.0).thoughts["pot"] == expected


def test_non_arithmetic_equation_is_refused():
    assert derive_equation("N=apples+3", 4.0).failure == "equation is not plain arithmetic"
    for version in ANNOTATION_VERSIONS:
        assert derive({"id": 1, "question": "q", "answer": 1}, version).failure.startswith("problem has neither")
        assert derive({"id": 1, "question": "q", "equation": "N=apples+3", "answer": 4}, version).failure == \
            "equation is not plain arithmetic"


def test_v1_is_what_derive_gives_for_gold_annotations_v1():
    problem = {"id": 1, "question": QUESTION, "rationale": RATIONALE, "answer": 72}
    assert derive(problem, "gold-annotations-v1").thoughts == derive_gsm8k(RATIONALE, 72.0, QUESTION).thoughts
    equation = {"id": 2, "question": "q", "equation": "7+2=9", "answer": 9}
    assert derive(equation, "gold-annotations-v1").thoughts == derive_equation("7+2=9", 9.0).thoughts


@pytest.mark.parametrize("version", [DEFAULT_ANNOTATION_VERSION])  # v1: benchmarks/teacher_formats.py
def test_gsm8k_train_yield_through_the_real_verifier(shared_data, verifier, version):
    """The issue's bar: >= 95% of GSM8K-train problems get a verified PoT *and* EoT thought, in
    either format."""
    problems = load_benchmark("gsm8k-train", shared_data).rows
    records, failures = [], collections.Counter()
    for problem in problems:
        derived = derive(problem, version)
        if derived.failure:
            failures[derived.failure] += 1
            continue
        records += [ThoughtRecord(id=problem["id"], thought_type=t, text=text, gold=problem["answer"])
                    for t, text in derived.thoughts.items()]
    verified = collections.defaultdict(set)
    for record, verdict in zip(records, verifier.verify_many(records)):
        if verdict.correct:
            verified[record.thought_type.value].add(record.id)
    both = verified["pot"] & verified["eot"]
    print(f"\nGSM8K train, {version}: PoT {len(verified['pot'])}, EoT {len(verified['eot'])}, CoT {len(verified['cot'])}, "
          f"PoT&EoT {len(both)} of {len(problems)}; not derivable: {dict(failures)}")
    assert len(both) >= 0.95 * len(problems)
    assert sum(failures.values()) < 0.05 * len(problems)


def test_few_shot_examples_are_correct_and_from_gsm8k_train(verifier, shared_data):
    """Every worked example is a GSM8K-train problem, and every one of its thoughts verifies."""
    from distillery.student.thought_text import TRIGGERS
    from distillery.teacher.prompts import EXAMPLES, chat_prompt, completion_prompt, prompt_hash

    train = {p["question"]: p["answer"] for p in load_benchmark("gsm8k-train", shared_data).rows}
    test = {p["question"] for p in load_benchmark("gsm8k-test", shared_data).rows}
    records = []
    for example in EXAMPLES:
        assert example.question in train and example.question not in test
        records += [ThoughtRecord(id=example.question[:20], thought_type=t, text=getattr(example, t),
                                  gold=train[example.question]) for t in ("cot", "pot", "eot")]
    assert len(EXAMPLES) == 8
    verdicts = list(verifier.verify_many(records))
    assert all(v.correct for v in verdicts), [(r.text, v) for r, v in zip(records, verdicts) if not v.correct]
    prompt = completion_prompt("What is 2 + 2?", "eot")
    assert prompt.endswith(f"Question: What is 2 + 2?\n{TRIGGERS['eot']}\n") and prompt.count("Question:") == 9
    assert len(chat_prompt("q", "pot")) == 1 + 2 * 8 + 1
    assert len(prompt_hash()) == 64
