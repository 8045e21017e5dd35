"""Scoring: per-type accuracy, ETD vote and fallback, from real verifier verdicts."""

from __future__ import annotations

import pytest

from distillery.student.generation import choose_backend
from distillery.evaluation.harness import parse_benchmarks
from distillery.student.ensemble import fallback, majority, vote
from distillery.evaluation.scoring import (compare_etd, parse_methods, result_methods, samples_in, score,
                                           thought_types_for)
from distillery.verifier.records import ThoughtRecord

# Two problems (gold 42 and 10) whose thoughts make vote and fallback disagree.
THOUGHTS = [
    # p1: PoT crashes; EoT and CoT disagree -> the vote's tie goes to EoT (right), fallback skips to EoT (right).
    ("p1", 42, "pot", "ans = 6 * 7 / 0"),
    ("p1", 42, "eot", "half = x / 2\nhalf = 21\nans = x"),
    ("p1", 42, "cot", "6 times 7 is 41. The answer is 41."),
    # p2: PoT executes but is wrong, EoT and CoT agree on the right answer -> vote right, fallback wrong.
    ("p2", 10, "pot", "ans = 3 + 4"),
    ("p2", 10, "eot", "a = 4\nb = 6\nans = a + b"),
    ("p2", 10, "cot", "4 plus 6 is 10. The answer is 10."),
]


@pytest.fixture(scope="module")
def verified_rows(verifier) -> list[dict]:
    records = [ThoughtRecord(id=i, thought_type=t, text=text, gold=gold)
               for i, (_, gold, t, text) in enumerate(THOUGHTS)]
    return [{"benchmark": "toy", "problem_id": pid, "thought_type": t, **v.contract_fields()}
            for (pid, _, t, _), v in zip(THOUGHTS, verifier.verify_many(records))]


def test_real_verdicts_behind_the_scenario(verified_rows):
    assert [(r["status"], r["correct"]) for r in verified_rows] == [
        ("exec_error", False), ("ok", True), ("ok", False), ("ok", False), ("ok", True), ("ok", True)]


def test_score_per_type_vote_and_fallback(verified_rows):
    results = {r.method: (r.correct, r.total) for r in score(verified_rows, ["toy"], ["cot", "pot", "eot", "etd"])}
    assert results == {"cot": (1, 2), "pot": (0, 2), "eot": (2, 2), "etd": (2, 2), "etd-fallback": (1, 2)}
    comparison = compare_etd(score(verified_rows, ["toy"], ["etd"]))
    assert (comparison.better, comparison.vote_correct, comparison.fallback_correct, comparison.total) == \
        ("etd", 2, 1, 2)
    assert comparison.sentence() == "ETD: majority vote (etd) is better (vote 2/2, fallback 1/2)"


def test_totals_count_problems_and_missing_benchmarks_are_zero(verified_rows):
    results = score(verified_rows, ["toy", "empty"], ["pot"])
    assert [(r.benchmark, r.method, r.correct, r.total, r.accuracy) for r in results] == [
        ("toy", "pot", 0, 2, 0.0), ("empty", "pot", 0, 0, 0.0)]
    assert compare_etd(results) is None


def test_vote_rounds_to_a_thousandth_and_breaks_ties_pot_eot_cot():
    assert vote({"cot": 1.0, "pot": 2.0, "eot": 3.0}) == "pot"
    assert vote({"cot": 5.0, "pot": 2.0, "eot": 5.0}) == "eot"  # majority, then the more reliable of the two
    assert vote({"cot": 5.0, "eot": 2.0}) == "eot"
    assert vote({"cot": 7.0001, "pot": 1.0, "eot": 7.0004}) == "eot"  # 7.0001 and 7.0004 count as one answer
    assert vote({}) is None and fallback({}) is None
    assert fallback({"cot": 1.0, "eot": 2.0}) == "eot"


def test_etd_only_scored_when_all_three_types_are_there():
    rows = [{"benchmark": "b", "problem_id": 1, "thought_type": "pot", "status": "ok", "answer": 1.0,
             "correct": True}]
    assert {r.method: r.correct for r in score(rows, ["b"], ["pot", "etd"])} == {"pot": 1, "etd": 0,
                                                                                 "etd-fallback": 0}


def test_methods_benchmarks_and_backends_are_checked():
    assert parse_methods("cot, ETD,cot") == ("cot", "etd")
    assert thought_types_for(["etd"]) == ("cot", "pot", "eot") and thought_types_for(["eot", "pot"]) == ("pot", "eot")
    assert result_methods(["cot", "etd"]) == ("cot", "etd", "etd-fallback")
    with pytest.raises(ValueError, match="unknown method.*sql.*choose from cot, pot, eot, etd"):
        parse_methods("pot,sql")
    assert parse_benchmarks("gsm8k,gsm8k-test,svamp") == ("gsm8k", "svamp")
    with pytest.raises(ValueError, match="unknown benchmark.*math500"):
        parse_benchmarks("math500")
    assert choose_backend("auto", encoder_decoder=False, has_vllm=True) == "vllm"
    assert choose_backend("auto", encoder_decoder=True, has_vllm=True) == "hf"
    assert choose_backend("auto", encoder_decoder=False, has_vllm=False) == "hf"
    with pytest.raises(ValueError, match="causal models only"):
        choose_backend("vllm", encoder_decoder=True, has_vllm=True)


# --- self-consistency: majority over any number of candidates, maj@K / pass@K / oracle ----------

def test_majority_counts_rounded_answers_and_breaks_ties_by_type_then_position():
    assert majority([]) is None
    # 5.0 twice (5.0, 5.0004 round together) beats 7.0 once, wherever the candidates sit.
    assert majority([("cot", 7.0), ("cot", 5.0004), ("eot", 5.0)]) == 2  # the eot one represents the 5s
    # A tie between answers: the answer whose best candidate is the most reliable type wins ...
    assert majority([("cot", 1.0), ("cot", 1.0), ("pot", 2.0), ("eot", 2.0)]) == 2
    # ... and between candidates of one type, the earlier one.
    assert majority([("cot", 3.0), ("cot", 4.0)]) == 0
    assert majority([("cot", 4.0), ("cot", 3.0), ("cot", 3.0)]) == 1
    assert majority([("pot", -0.0), ("cot", 0.0), ("eot", 9.0)]) == 0  # -0.0 and 0.0 are one answer
    assert majority([("eot", 1.0004), ("eot", 1.0006)]) == 0  # 1.0 vs 1.001: a tie, the earlier wins


def _row(pid, thought_type, sample, answer, correct, status="ok"):
    return {"benchmark": "b", "problem_id": pid, "thought_type": thought_type, "sample": sample,
            "status": status, "answer": answer if status == "ok" else None, "correct": correct}


def _failed(pid, thought_type, sample):
    return _row(pid, thought_type, sample, None, False, status="exec_error")


def test_self_consistency_on_constructed_samples():
    rows = [
        # p1 (gold 10): greedy all wrong; PoT's samples: 2 of 3 say 10 -> maj right; EoT's all fail;
        # CoT's say 4, 10, 4 -> maj wrong, pass right. All 9 samples: 10 x3 (2 pot + 1 cot) vs 4 x2 -> right.
        _row("p1", "pot", -1, 3.0, False), _row("p1", "eot", -1, 3.0, False), _row("p1", "cot", -1, 4.0, False),
        _row("p1", "pot", 0, 10.0, True), _row("p1", "pot", 1, 7.0, False), _row("p1", "pot", 2, 10.0, True),
        _failed("p1", "eot", 0), _failed("p1", "eot", 1), _failed("p1", "eot", 2),
        _row("p1", "cot", 0, 4.0, False), _row("p1", "cot", 1, 10.0, True), _row("p1", "cot", 2, 4.0, False),
        # p2 (gold 1): nothing executes anywhere -> every method wrong, the oracle too.
        *(_failed("p2", t, s) for t in ("pot", "eot", "cot") for s in (-1, 0, 1, 2)),
        # p3 (gold 6): greedy PoT right; samples tie 6 (eot) vs 8 (pot) 1:1 with the rest failing
        # -> the tie goes to PoT's 8: etd-maj wrong; the oracle right.
        _row("p3", "pot", -1, 6.0, True), _failed("p3", "eot", -1), _failed("p3", "cot", -1),
        _row("p3", "pot", 0, 8.0, False), _failed("p3", "pot", 1), _failed("p3", "pot", 2),
        _row("p3", "eot", 0, 6.0, True), _failed("p3", "eot", 1), _failed("p3", "eot", 2),
        *(_failed("p3", "cot", s) for s in (0, 1, 2)),
    ]
    results = {r.method: r.correct for r in score(rows, ["b"], ["cot", "pot", "eot", "etd"], samples=3)}
    assert results == {"cot": 0, "cot-maj@3": 0, "cot-pass@3": 1,
                       "pot": 1, "pot-maj@3": 1, "pot-pass@3": 1,
                       "eot": 0, "eot-maj@3": 1, "eot-pass@3": 1,
                       "etd": 1, "etd-fallback": 1, "etd-maj@3": 1, "oracle": 2}
    assert list(results) == list(result_methods(["cot", "pot", "eot", "etd"], samples=3))
    comparison = compare_etd(score(rows, ["b"], ["etd"], samples=3))
    assert (comparison.samples, comparison.maj_correct) == (3, 1)
    assert comparison.sentence().endswith("; self-consistency over 9 samples (etd-maj@3) 1/3")
    # Without samples asked, the sampled rows are ignored and the table is the greedy one.
    assert [r.method for r in score(rows, ["b"], ["pot", "etd"])] == ["pot", "etd", "etd-fallback"]


def test_greedy_rows_without_a_sample_field_score_as_before_and_the_oracle_is_any_correct(verified_rows):
    assert {r.method: r.correct for r in score(verified_rows, ["toy"], ["etd"], oracle=True)} == \
        {"etd": 2, "etd-fallback": 1, "oracle": 2}
    assert samples_in(verified_rows) == 0
    assert samples_in([{"sample": -1}, {"sample": 4}, {}]) == 5
