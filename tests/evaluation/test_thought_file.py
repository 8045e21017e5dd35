"""``eval --score FILE``'s input: the generated-thoughts row schema, and bad lines named by line and field."""

from __future__ import annotations

import json

import pytest

from distillery.core.jsonl import InvalidLine
from distillery.evaluation.thought_file import grade, read_thoughts

ROW = {"benchmark": "gsm8k", "id": "gsm8k-test-0", "question": "q", "answer": 18, "thought_type": "pot",
       "sample": -1, "text": "ans = 18"}


def _write(tmp_path, *lines) -> str:
    path = tmp_path / "thoughts.jsonl"
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


@pytest.mark.parametrize("second, message", [
    ("{not json", "2: not valid JSON"),
    ({k: v for k, v in ROW.items() if k != "text"} | {"sample": 0}, "2: text: Field required"),
    (ROW | {"sample": -2}, "2: sample: Input should be greater than or equal to -1"),
    (ROW | {"sample": True}, "2: sample: Input should be a valid integer"),
    (ROW | {"sample": "0"}, "2: sample: Input should be a valid integer"),
    (ROW | {"sample": 0, "answer": "eighteen"}, "2: answer: 'eighteen' is not a number"),
    (ROW | {"sample": 0, "answer": None}, "2: answer: must be a number or a numeric string"),
    (ROW | {"sample": 0, "thought_type": "PoT"}, "2: thought_type: Input should be 'pot', 'eot' or 'cot'"),
    (ROW | {"sample": 0, "benchmark": "GSM 8K"}, "2: benchmark: 'GSM 8K' is not a benchmark name"),
    (ROW | {"sample": 0, "id": 1.5}, "2: id: must be a string or an integer (the problem's id in the registry)"),
    (ROW, "2: sample: -1 of pot for gsm8k gsm8k-test-0 repeats line 1"),
    (ROW | {"sample": 0, "answer": "19"}, "2: answer: differs from line 1 for gsm8k gsm8k-test-0"),
    (ROW | {"sample": 0, "question": "other"}, "2: question: differs from line 1 for gsm8k gsm8k-test-0"),
])
def test_a_bad_line_is_named_with_its_field(tmp_path, second, message):
    path = _write(tmp_path, ROW, second)
    with pytest.raises(InvalidLine) as bad:
        read_thoughts(path)
    assert str(bad.value).startswith(f"{path}:{message}"), str(bad.value)


def test_rows_read_with_gold_strings_integer_ids_and_extra_fields(tmp_path):
    rows = [ROW | {"id": 3, "answer": "$1,200", "output_tokens": 7}, ROW | {"id": 3, "answer": 1200, "sample": 0}]
    thoughts = read_thoughts(_write(tmp_path, *rows, ""))
    assert [(t.id, t.gold, t.sample) for t in thoughts] == [(3, 1200.0, -1), (3, 1200.0, 0)]
    with pytest.raises(InvalidLine, match="no thoughts in the file"):
        read_thoughts(_write(tmp_path, ""))


def test_graded_rows_carry_the_cut_thought_and_the_verdict(tmp_path, verifier):
    path = _write(tmp_path, ROW | {"text": "```python\nans = 18\n```\nQuestion: more"},
                  ROW | {"thought_type": "cot", "text": "The answer is 17."})
    graded = grade(read_thoughts(path), verifier.verify_many)
    assert [(r["id"], r["text"], r["status"], r["correct"]) for r in graded.rows] == [
        ("gsm8k-test-0/pot", "ans = 18", "ok", True), ("gsm8k-test-0/cot", "The answer is 17.", "ok", False)]
    assert graded.methods == ("cot", "pot") and graded.samples == 0
    assert [(r.method, r.correct) for r in graded.results] == [("cot", 0), ("pot", 1), ("oracle", 1)]
