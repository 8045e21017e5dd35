"""Thought format v2 of the annotations teacher: three different texts, checked by the real verifier."""

from __future__ import annotations

import re
import time

import pytest

from distillery.student.generation import Generated
from distillery.student.thought_text import clean_thought
from distillery.evaluation.harness import evaluate
from distillery.registry.benchmarks import load_benchmark
from distillery.teacher import dataflow
from distillery.teacher.annotations import derive
from distillery.teacher.backends.annotations import AnnotationsBackend
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.config import Sampling, TeacherJobConfig
from distillery.teacher.formats import has_equation, inverted, is_equation, render_v2
from distillery.verifier.records import ThoughtRecord

QUESTION = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for "
            "her friends every day with four. She sells the remainder at the farmers' market daily for $2 per "
            "fresh duck egg. How much in dollars does she make every day at the farmers' market?")
RATIONALE = ("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 duck eggs a day.\n"
             "She makes 9 * 2 = $<<9*2=18>>18 every day at the farmer's market.\n#### 18")
NAME = re.compile(r"^[a-z]+(?:_[a-z]+)*(?:_[2-9])?$")  # snake_case words, at most a _2 .. _9 suffix


@pytest.fixture(scope="module")
def train(shared_data) -> list[dict]:
    return load_benchmark("gsm8k-train", shared_data).rows


def test_v2_gives_three_different_texts():
    thoughts = derive({"id": 1, "question": QUESTION, "rationale": RATIONALE, "answer": 18})
    assert not thoughts.failure
    pot, eot, cot = thoughts.thoughts["pot"], thoughts.thoughts["eot"], thoughts.thoughts["cot"]
    lines = pot.splitlines()
    # the givens first, named from the question, in its order; then the computation
    assert [line.split(" = ")[1] for line in lines[:4]] == ["16", "3", "4", "2"]
    assert lines[0] == "eggs_per_day = 16" and lines[3] == "price_per_egg = 2"
    assert lines[4].startswith("duck_eggs_day = eggs_per_day - ")
    assert lines[5:] == ["dollars = duck_eggs_day * price_per_egg", "ans = dollars"]
    assert not any(line.startswith("#") for line in pot.splitlines())  # no prose, no precomputed numbers
    # EoT: the question's sentences as comments, the asked quantity an unknown, an equation to solve
    lines = eot.splitlines()
    assert lines[0] == "% Janet's ducks lay 16 eggs per day." and lines[1] == "eggs_per_day = 16"
    ask = lines.index("% How much in dollars does she make every day at the farmers' market?")
    assert re.fullmatch(r"[a-z_]+ = x", lines[ask + 1])
    assert has_equation(eot) and any("+" in line and is_equation(line) for line in lines)  # parts sum to a total
    assert lines[-1] == f"ans = {lines[ask + 1].split(' = ')[0]}"
    # no sentence is shared between the texts
    comments = {line[1:].strip() for line in lines if line.startswith("%")}
    assert not comments & {line.lstrip("# ") for line in pot.splitlines()}
    assert not any(c in cot for c in comments)
    assert cot.endswith("The answer is 18.") and "<<" not in cot


def test_v1_is_still_selectable_and_unchanged():
    problem = {"id": 1, "question": QUESTION, "rationale": RATIONALE, "answer": 18}
    v1 = derive(problem, "gold-annotations-v1").thoughts
    assert v1["pot"].splitlines()[0] == "# Janet sells 16 - 3 - 4 = 9 duck eggs a day."
    assert v1["pot"].replace("# ", "% ") == v1["eot"]
    assert derive(problem).thoughts == derive(problem, "gold-annotations-v2").thoughts
    with pytest.raises(ValueError, match="gold-annotations-v1"):
        derive(problem, "gold-annotations-v3")


def test_backend_model_is_the_version_and_jobs_default_to_v2():
    request = GenerationRequest(problem={"id": 1, "question": QUESTION, "rationale": RATIONALE, "answer": 18},
                                thought_type="eot", samples=1)
    for version in ("gold-annotations-v1", "gold-annotations-v2"):
        backend = AnnotationsBackend(version)
        assert backend.model == version
        assert backend.generate([request], Sampling())[0].texts == [derive(request.problem, version).thoughts["eot"]]
    config = TeacherJobConfig(problems="gsm8k-train@1", out="etd")
    assert config.model == "gold-annotations-v2"
    with pytest.raises(ValueError, match="gold-annotations-v1"):
        TeacherJobConfig(problems="gsm8k-train@1", out="etd", model="gold-annotations-v9")


@pytest.mark.parametrize("expression, values, expected", [
    ("total - a - b", {"total": 10, "a": 1, "b": 2}, "a + b + L = total"),
    ("a - (b - c)", {"a": 5, "b": 3, "c": 1}, "b - c + L = a"),
    ("a + b", {"a": 1, "b": 2}, "L - b = a"),
    ("a * b", {"a": 3, "b": 4}, "L / b = a"),
    ("a * b", {"a": 3, "b": 0}, "L / a = b"),
    ("a * (b + c)", {"a": 3, "b": 4, "c": 1}, "L / (b + c) = a"),
    ("(a + b) / c", {"a": 1, "b": 2, "c": 3}, "L * c = a + b"),
    ("a / (b * c)", {"a": 1, "b": 2, "c": 3}, "L * (b * c) = a"),
    ("a", {"a": 1}, None),
])
def test_inverting_a_step(expression, values, expected):
    from fractions import Fraction

    line = inverted("L", dataflow.parse_expression(expression), {k: Fraction(v) for k, v in values.items()})
    assert line == expected
    if line:
        assert is_equation(line)


def test_given_names_are_snake_case_words(train):
    flows = [dataflow.from_annotations(p["question"], p["rationale"], float(p["answer"])) for p in train[:400]
             if not derive(p).failure]
    names = [g.name for f in flows for g in f.givens]
    assert len(names) > 1000
    bad = [n for n in names if not NAME.match(n) or len(n.split("_")) > 4 or not n.isidentifier()]
    assert len(bad) < 0.01 * len(names), bad[:20]
    assert not [n for n in names if re.search(r"[a-z]\d", n)]  # never digits glued onto a word
    examples = {("Weng earns $12 an hour for babysitting.", "12"): "pay_per_hour",
                ("Janet's ducks lay 16 eggs per day.", "16"): "eggs_per_day",
                ("He buys a hat for $10 and a pencil for $2.", "10"): "hat_cost"}
    for (question, number), expected in examples.items():
        found = next(n for n in dataflow.question_numbers(question) if n.text == number)
        assert dataflow._given_name(question, found, set()) == expected


def test_v2_eot_and_pot_verify_to_gold(train, verifier):
    """~100 problems' EoT systems solve to gold (each with an equation to solve); 20 PoT run in the sandbox."""
    sample = [p for p in train[::70] if not derive(p).failure]
    records = [ThoughtRecord(id=p["id"], thought_type="eot", text=derive(p).thoughts["eot"], gold=p["answer"])
               for p in sample]
    records += [ThoughtRecord(id=p["id"], thought_type="pot", text=derive(p).thoughts["pot"], gold=p["answer"])
                for p in sample[:20]]
    assert len(sample) >= 95
    started = time.perf_counter()
    verdicts = list(verifier.verify_many(records))
    wrong = [(r.text, v) for r, v in zip(records, verdicts) if not v.correct]
    # a handful of rationales compute something else than their gold (slips): v1 misses those too
    assert len(wrong) <= 0.03 * len(records), wrong[:3]
    eot = [r for r in records if r.thought_type.value == "eot"]
    assert sum(has_equation(r.text) for r in eot) >= 0.9 * len(eot)
    assert time.perf_counter() - started < 60


def test_equation_benchmarks_get_named_givens_and_an_equation(verifier):
    problem = {"id": "svamp-1", "question": "Jack had 76 apples. He gave 25 of them away. How many apples does Jack "
                                            "have left?", "equation": "( 76.0 - 25.0 )", "answer": 51}
    thoughts = derive(problem).thoughts
    assert thoughts["pot"].splitlines() == ["apples = 76", "away = 25", "apples_left = apples - away",
                                            "ans = apples_left"]
    assert "x" in thoughts["eot"] and has_equation(thoughts["eot"])
    records = [ThoughtRecord(id=t, thought_type=t, text=text, gold=51) for t, text in thoughts.items()]
    assert all(v.correct for v in verifier.verify_many(records)), thoughts


class _Replay:
    """A student that answers with given texts (as a model that runs on into the next question)."""

    backend, tokenizer, max_new_tokens = "replay", None, 320

    def __init__(self, texts: dict[tuple[str, str], str]) -> None:
        self.texts = texts

    def generate(self, requests):
        thoughts = [clean_thought(self.texts[r] + "\n\nQuestion: what next?", r[1]) for r in requests]
        return Generated(thoughts=thoughts, output_tokens=[1] * len(thoughts), seconds=0.001)

    def close(self) -> None:
        pass


def test_v2_thoughts_through_the_students_answer_path(train, verifier):
    """`distillery eval` / `/v1/solve` read a student's v2-style text the same way: clean, verify, vote."""
    problems = [p for p in train[:40] if not derive(p).failure][:12]
    texts = {(p["question"], t): text for p in problems for t, text in derive(p).thoughts.items()}
    evaluation = evaluate(_Replay(texts), {"gsm8k": problems}, "cot,pot,eot,etd", verifier.verify_many)
    accuracy = {r.method: r.accuracy for r in evaluation.results}
    assert accuracy["eot"] >= 0.9 and accuracy["pot"] >= 0.9 and accuracy["etd"] >= 0.9, accuracy


def test_render_v2_of_a_program_names_its_answer():
    flow = dataflow.from_program("Tom has 3 boxes of 4 pens. How many pens does Tom have?",
                                 "boxes = 3\npens = 4\nans = boxes * pens")
    thoughts = render_v2(flow, "3 * 4 = 12. The answer is 12.")
    assert thoughts["pot"].splitlines() == ["boxes = 3", "pens = 4", "total_pens = boxes * pens", "ans = total_pens"]
    assert thoughts["eot"].splitlines()[-3:] == ["total_pens = x", "total_pens / pens = boxes", "ans = total_pens"]
