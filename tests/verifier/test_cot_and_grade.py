"""CoT answer extraction, number normalisation, grading and the record contract."""

import pytest
from pydantic import ValidationError

from distillery.core.outcome import Status
from distillery.verifier.cot import extract_cot_answer
from distillery.verifier.grade import GradingConfig, is_correct
from distillery.verifier.numbers import number_or_none
from distillery.verifier.records import ThoughtRecord


@pytest.mark.parametrize("text, expected", [
    ("She has 5 + 3 = 8 apples. The answer is 8.", 8.0),
    ("The answer is $1,200.", 1200.0),
    ("So the total is 72.\n#### 72", 72.0),
    ("The answer is: 3/4 cup of flour.", 0.75),
    ("It drops to -5 degrees. The answer is −5.", -5.0),
    ("The answer is 25%.", 25.0),
    ("The answer is .5", 0.5),
    ("The answer is 18 dollars. Wait, recount: the answer is 20.", 20.0),
    ("the ANSWER IS 1,234,567.89 exactly", 1234567.89),
    ("Therefore the final total is \\boxed{42}.", 42.0),
    ("He bought 3 pens and 4 pencils, 7 items in all", 7.0),
])
def test_cot_answers(text, expected):
    outcome = extract_cot_answer(text)
    assert outcome.status is Status.OK
    assert outcome.answer == pytest.approx(expected)


@pytest.mark.parametrize("text, fragment", [
    ("I cannot solve this.", "no number"),
    ("The answer is unknown.", "no number after 'The answer is'"),
])
def test_cot_without_an_answer(text, fragment):
    outcome = extract_cot_answer(text)
    assert outcome.status is Status.NO_ANSWER and fragment in outcome.error


def test_cot_oversized_text_is_refused():
    assert extract_cot_answer("1 " * 60_000).status is Status.RESOURCE_LIMIT


@pytest.mark.parametrize("text, expected", [
    ("1,200", 1200.0), ("$5", 5.0), ("€ 2.50", 2.5), ("45%", 0.45), ("3/4", 0.75), ("-7", -7.0),
    ("twelve", None), ("1/0", None), ("", None),
])
def test_number_or_none(text, expected):
    assert number_or_none(text) == (pytest.approx(expected) if expected is not None else None)


def test_grading_rules():
    assert is_correct(18.0004, 18.0) is True
    assert is_correct(18.002, 18.0) is False
    assert is_correct(None, 18.0) is False
    assert is_correct(18.0, None) is None
    relative = GradingConfig(rel_tol=0.01)
    assert is_correct(1005.0, 1000.0, relative) is True
    assert is_correct(1011.0, 1000.0, relative) is False
    with pytest.raises(ValidationError, match="abs_tol"):
        GradingConfig(abs_tol=-1)


def test_record_contract():
    record = ThoughtRecord.model_validate({"id": 3, "thought_type": "eot", "text": "ans = 1", "gold": "$1,200",
                                           "source": "kept"})
    assert record.gold == 1200.0 and record.model_extra == {"source": "kept"}
    with pytest.raises(ValidationError, match="thought_type"):
        ThoughtRecord.model_validate({"id": 1, "thought_type": "sql", "text": ""})
    with pytest.raises(ValidationError, match="gold"):
        ThoughtRecord.model_validate({"id": 1, "thought_type": "cot", "text": "", "gold": "many"})
    with pytest.raises(ValidationError, match="text"):
        ThoughtRecord.model_validate({"id": 1, "thought_type": "cot"})
