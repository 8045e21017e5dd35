"""Verified problem variation on real GSM8K-train problems: new numbers, same dataflow, new gold."""

from __future__ import annotations

import re
from fractions import Fraction

import pytest

from distillery.registry.benchmarks import load_benchmark, normalise_question
from distillery.teacher.annotations import derive
from distillery.teacher.config import ANNOTATION_VERSIONS
from distillery.teacher.dataflow import DataflowError, from_annotations, from_program, question_numbers
from distillery.teacher.variation import CONSTANT_WORDS, Variant, make_variants
from distillery.verifier.records import ThoughtRecord

PROBLEMS = 80  # the first GSM8K-train problems whose annotations give a dataflow
K = 3


@pytest.fixture(scope="module")
def parents(shared_data) -> list[tuple[dict, object]]:
    found = []
    for problem in load_benchmark("gsm8k-train", shared_data).rows:
        try:
            found.append((problem, from_annotations(problem["question"], problem["rationale"], problem["answer"])))
        except DataflowError:
            continue
        if len(found) == PROBLEMS:
            break
    return found


@pytest.fixture(scope="module")
def variants(parents) -> list[tuple[dict, object, Variant]]:
    out = []
    for problem, flow in parents:
        kept, _ = make_variants(problem, flow, K, seed=0)
        out += [(problem, flow, variant) for variant in kept]
    return out


def test_variants_change_the_givens_and_the_gold_is_the_program_on_the_new_numbers(parents, variants):
    assert len(variants) >= 0.5 * K * len(parents), len(variants)
    for parent, flow, variant in variants:
        row = variant.problem
        assert row["id"].startswith(f"{parent['id']}-v") and row["parent_id"] == parent["id"]
        assert row["source"] == "gsm8k" and row["split"] == "train" and isinstance(row["answer"], float)
        assert row["question"] != parent["question"] and row["variation"]["seed"] == 0
        numbers = row["variation"]["numbers"]
        assert numbers and all(old != new for old, new in numbers.items())
        # every place of a varied given changed; the question's other numbers stayed as written
        new_values = {g.name: g.value for g in variant.flow.givens}
        assert any(new_values[g.name] != g.value for g in flow.givens)
        old_numbers, new_numbers = question_numbers(parent["question"]), question_numbers(row["question"])
        assert len(old_numbers) == len(new_numbers)
        for given in flow.givens:
            for i in given.at:
                assert new_numbers[i].value == new_values[given.name]
        used = {i for g in flow.givens for i in g.at}
        for i, (old, new) in enumerate(zip(old_numbers, new_numbers)):
            if i not in used:
                assert old.text == new.text
        # the gold is the parent's program evaluated on the new givens, and it re-derives from the text
        assert flow.values(new_values)[flow.answer] == Fraction(str(row["answer"]))
        again = from_annotations(row["question"], row["rationale"], row["answer"])
        assert [s.value for s in again.steps] == [s.value for s in variant.flow.steps]
        assert "####" not in row["rationale"]


def test_intermediate_values_stay_natural(variants):
    for _, flow, variant in variants:
        old, new = flow.values(), variant.flow.values()
        for step in flow.steps:
            a, b = old[step.name], new[step.name]
            assert (a > 0) == (b > 0) and (a < 0) == (b < 0), (step, b)
            if a.denominator == 1:
                assert b.denominator == 1, (variant.problem["question"], step, b)


def test_new_numbers_keep_their_kind(variants):
    for parent, _, variant in variants:
        for old, new in variant.problem["variation"]["numbers"].items():
            if old.isalpha():
                continue
            old_value, new_value = Fraction(old.replace(",", "")), Fraction(new.replace(",", "") if new[0].isdigit()
                                                                          or new[0] == "." else "0")
            if "." in old:  # "2.50" -> "3.75": same places
                assert "." in new and len(new.split(".")[1]) == len(old.split(".")[1]), (old, new)
            elif old_value % 10 == 0 and old_value > 10:
                assert new_value % 10 == 0, (old, new)
            assert old_value / 3 <= new_value <= max(3 * old_value, 6), (old, new)
        question = variant.problem["question"]
        for match in re.finditer(r"(\d+(?:\.\d+)?)%", question):
            assert float(match.group(1)) <= 100


def test_deterministic_for_a_seed(parents):
    problem, flow = next((p, f) for p, f in parents if len(make_variants(p, f, 4, 0)[0]) == 4)
    first, drops = make_variants(problem, flow, 4, seed=0)
    again, drops_again = make_variants(problem, flow, 4, seed=0)
    assert [v.problem for v in first] == [v.problem for v in again] and drops == drops_again
    assert [v.problem for v in make_variants(problem, flow, 2, seed=0)[0]] == [v.problem for v in first[:2]]
    other, _ = make_variants(problem, flow, 4, seed=1)
    assert [v.problem["question"] for v in other] != [v.problem["question"] for v in first]


def test_a_given_that_a_word_also_implies_is_frozen():
    """ "half" is / 2 in the program: a stated "$2" must not vary, or half would change with it."""
    question = ("Sam buys 10 pens at $2 each. He gives half of the pens to his sister. "
                "How much did the pens he kept cost?")
    rationale = ("Sam kept 10 / 2 = <<10/2=5>>5 pens.\n"
                 "The pens he kept cost 5 * 2 = $<<5*2=10>>10.")
    flow = from_annotations(question, rationale, 10.0)
    assert {g.value for g in flow.givens} == {10, 2}
    problem = {"id": "pens", "question": question, "answer": 10.0, "source": "test", "split": "train",
               "rationale": rationale}
    kept, drops = make_variants(problem, flow, 5, seed=0)
    assert kept
    for variant in kept:
        assert "$2 each" in variant.problem["question"] and set(variant.problem["variation"]["numbers"]) == {"10"}
        pens = Fraction(variant.problem["variation"]["numbers"]["10"])
        assert variant.problem["answer"] == float(pens / 2 * 2)
        assert f"{variant.problem['variation']['numbers']['10']} / 2 = " in variant.problem["rationale"]
    assert Fraction(2) in CONSTANT_WORDS["half"] and Fraction(12) in CONSTANT_WORDS["dozen"]


def test_frozen_years_and_no_givens_to_vary():
    question = "In 2015 Ann was 30 years old. How old was she in 2020?"
    flow = from_program(question, "born = 2015 - 30\nans = 2020 - born")
    kept, drops = make_variants({"id": "ann", "question": question, "answer": 35.0}, flow, 3, seed=0)
    assert all("2015" in v.problem["question"] and "2020" in v.problem["question"] for v in kept)
    assert all(set(v.problem["variation"]["numbers"]) == {"30"} for v in kept)
    alone = from_program("In 2015 and 2020?", "ans = 2020 - 2015")
    kept, drops = make_variants({"id": "y", "question": "In 2015 and 2020?", "answer": 5.0}, alone, 3, seed=0)
    assert kept == [] and drops == {"no givens": 1}


def test_duplicates_are_dropped():
    """One given with few values to take: asking for many variants runs into repeats."""
    question = "Tom has 3 apples and twice as many pears. How many pears does he have?"
    rationale = "Tom has 3 * 2 = <<3*2=6>>6 pears."
    flow = from_annotations(question, rationale, 6.0)
    problem = {"id": "tom", "question": question, "answer": 6.0, "source": "test", "split": "train",
               "rationale": rationale}
    kept, drops = make_variants(problem, flow, 10, seed=0)
    assert 1 <= len(kept) < 10 and drops["duplicate"] > 0
    texts = [normalise_question(v.problem["question"]) for v in kept]
    assert len(set(texts)) == len(texts) and normalise_question(question) not in texts
    for variant in kept:
        apples = Fraction(variant.problem["variation"]["numbers"]["3"])
        assert variant.problem["answer"] == float(apples * 2)
        assert variant.problem["rationale"] == f"Tom has {apples} * 2 = <<{apples}*2={apples * 2}>>{apples * 2} pears."


def test_a_program_flow_varies_without_a_rationale():
    question = ("Janet's ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins "
                "for her friends every day with four. She sells the remainder at the farmers' market daily for $2 "
                "per fresh duck egg. How much in dollars does she make every day at the farmers' market?")
    program = "eggs = 16\neaten = 3\nbaked = 4\nprice = 2\nleft = eggs - eaten - baked\nans = left * price"
    flow = from_program(question, program)
    kept, drops = make_variants({"id": "janet", "question": question, "answer": 18.0, "source": "teacher",
                                 "split": "train"}, flow, 5, seed=0)
    assert len(kept) == 5, drops
    for variant in kept:
        assert "rationale" not in variant.problem and variant.problem["parent_id"] == "janet"
        values = {g.name: g.value for g in variant.flow.givens}
        left = values["eggs"] - values["eaten"] - values["baked"]
        assert variant.problem["answer"] == float(left * values["price"])
        assert variant.problem["answer"] > 0
        again = from_program(variant.problem["question"], program.replace("16", str(values["eggs"]))
                             .replace("3\n", f"{values['eaten']}\n").replace("4\n", f"{values['baked']}\n")
                             .replace("= 2\n", f"= {values['price']}\n"))
        assert again.answer_value == Fraction(str(variant.problem["answer"]))


def test_variant_thoughts_verify_to_the_variant_gold(variants, verifier):
    """The annotations teacher derives thoughts from a variant like from any GSM8K row, and the real
    verifier agrees with the variant's gold for every thought type."""
    sample = variants[::max(1, len(variants) // 30)][:30]
    assert len(sample) == 30
    records = []
    for _, _, variant in sample:
        for version in (None, *ANNOTATION_VERSIONS):  # the default, and every format by name
            derived = derive(variant.problem) if version is None else derive(variant.problem, version)
            assert derived.failure is None, (variant.problem, version, derived.failure)
            records += [ThoughtRecord(id=f"{variant.problem['id']}/{version}", thought_type=t, text=text,
                                      gold=variant.problem["answer"]) for t, text in derived.thoughts.items()]
    verdicts = list(verifier.verify_many(records))
    wrong = [(r.id, r.thought_type.value, r.text, v.answer, r.gold) for r, v in zip(records, verdicts) if not v.correct]
    assert not wrong, wrong[:3]
    assert {r.thought_type.value for r in records} == {"cot", "pot", "eot"}


def test_bounded_quantities_stay_in_bounds():
    """ "6 days a week" may become 3, 4 or 7 days a week, never 10."""
    question = "Carly swims for 2 hours a day, 6 days a week. How many hours does she swim in 3 weeks?"
    flow = from_program(question, "per_week = 2 * 6\nans = per_week * 3")
    kept, _ = make_variants({"id": "carly", "question": question, "answer": 36.0}, flow, 10, seed=0)
    assert kept
    for variant in kept:
        days = question_numbers(variant.problem["question"])[1].value
        hours = question_numbers(variant.problem["question"])[0].value
        assert days <= 7 and hours <= 24, variant.problem["question"]
