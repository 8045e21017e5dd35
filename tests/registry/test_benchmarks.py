"""The five benchmarks parsed into the common problems schema, checked against the raw shared files.

The data is read from the shared directory (``shared_data`` fixture: fails, never skips, when missing).
Expected counts come from each folder's SOURCE.md; spot checks recompute answers from the raw files.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import pytest

from distillery.registry.benchmarks import (
    BENCHMARKS,
    BenchmarkLoad,
    iter_jsonl_bytes,
    load_benchmark,
    normalise_question,
)

EXPECTED_KEPT = {"gsm8k-train": 7473, "gsm8k-test": 1319, "svamp": 1000, "asdiv": 2084, "multiarith": 600}
ASDIV_PROBLEMS = 2305
ASDIV_DROP_REASONS = {
    "multiple answers": 90,
    "ratio or clock time (a:b)": 61,
    "fraction (a/b)": 9,
    "not a number": 61,
}
# " ?", " ." or " ," left in a question; a space before a decimal (".5 hours") is fine.
STRAY_SPACE = re.compile(r"\s[.,?](?!\d)")


@pytest.fixture(scope="module")
def loads(shared_data: Path) -> dict[str, BenchmarkLoad]:
    return {name: load_benchmark(name, shared_data) for name in BENCHMARKS}


def by_id(load: BenchmarkLoad) -> dict[str, dict]:
    return {row["id"]: row for row in load.rows}


def test_benchmark_names_in_order():
    assert BENCHMARKS == ("gsm8k-train", "gsm8k-test", "svamp", "asdiv", "multiarith")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_counts(loads, name):
    load = loads[name]
    assert len(load.rows) == EXPECTED_KEPT[name]
    if name == "asdiv":
        assert Counter(reason for _, reason in load.dropped) == ASDIV_DROP_REASONS
        assert len(load.rows) + len(load.dropped) == ASDIV_PROBLEMS
    else:
        assert load.dropped == []


@pytest.mark.parametrize("name", BENCHMARKS)
def test_common_schema(loads, name):
    family, split = {"gsm8k-train": ("gsm8k", "train"), "gsm8k-test": ("gsm8k", "test")}.get(name, (name, "test"))
    rows = loads[name].rows
    assert len({row["id"] for row in rows}) == len(rows)
    for row in rows:
        assert {"id", "question", "answer", "source", "split"} <= row.keys()
        assert row["id"].startswith(f"{name}-")
        assert (row["source"], row["split"]) == (family, split)
        assert type(row["answer"]) is float and math.isfinite(row["answer"]), row
        question = row["question"]
        assert question and question == question.strip(), row["id"]
        assert "  " not in question and "\n" not in question, row["id"]
        assert not STRAY_SPACE.search(question), (row["id"], question)


def test_ids_unique_across_benchmarks(loads):
    ids = [row["id"] for load in loads.values() for row in load.rows]
    assert len(ids) == len(set(ids)) == sum(EXPECTED_KEPT.values())


def test_source_line_names_licence(loads):
    for load in loads.values():
        assert load.source and "\n" not in load.source
    assert "MIT" in loads["gsm8k-train"].source and "openai/grade-school-math" in loads["gsm8k-test"].source
    assert "MIT" in loads["svamp"].source
    assert "CC BY-NC 4.0" in loads["asdiv"].source
    assert "zero_shot_cot" in loads["multiarith"].source


def test_unknown_benchmark_is_rejected(shared_data):
    with pytest.raises(ValueError, match="unknown benchmark"):
        load_benchmark("gsm8k", shared_data)


# --- GSM8K ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["train", "test"])
def test_gsm8k_answers_match_raw_final_line(loads, shared_data, split):
    raw_lines = (shared_data / "gsm8k" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
    rows = loads[f"gsm8k-{split}"].rows
    assert len(rows) == len(raw_lines)
    for index, (line, row) in enumerate(zip(raw_lines, rows)):
        raw = json.loads(line)
        final_line = raw["answer"].splitlines()[-1]
        assert final_line.startswith("#### ")
        assert row["id"] == f"gsm8k-{split}-{index}"
        assert row["answer"] == float(final_line[5:].replace(",", ""))
        assert "####" not in row["rationale"]
        assert raw["answer"].startswith(row["rationale"])


def test_gsm8k_spot_checks(loads):
    train = by_id(loads["gsm8k-train"])
    first = train["gsm8k-train-0"]
    assert first["answer"] == 72.0
    assert first["question"].startswith("Natalia sold clips to 48 of her friends in April")
    assert first["rationale"] == (
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
        "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May."
    )
    assert train["gsm8k-train-644"]["answer"] == 109_200_000.0  # raw "#### 109,200,000"
    assert train["gsm8k-train-345"]["answer"] == 1080.0  # raw "#### 1,080"
    negatives = sorted(row["answer"] for row in train.values() if row["answer"] < 0)
    assert len(negatives) == 3 and negatives[0] == -47.0
    assert loads["gsm8k-test"].rows[0]["answer"] == 18.0  # Janet's ducks
    # Calculator annotations are kept in every rationale that has them.
    assert sum("<<" in row["rationale"] for row in train.values()) > 7000


def test_gsm8k_question_whitespace_keeps_leading_decimal(loads):
    # Raw: "Tina makes $18.00 an hour.  If she works" (double space after sentences in 1816 train questions).
    assert "an hour. If she works" in by_id(loads["gsm8k-train"])["gsm8k-train-9"]["question"]
    # Raw: "each visit takes .5 hours" -- the space before a decimal must survive punctuation fixing.
    assert "takes .5 hours" in by_id(loads["gsm8k-train"])["gsm8k-train-861"]["question"]
    # Raw: "how much ribbon remains ?"
    assert by_id(loads["gsm8k-train"])["gsm8k-train-3200"]["question"].endswith("ribbon remains?")


# --- SVAMP ---------------------------------------------------------------------------------------


def test_svamp_join_answer_and_typo_fix(loads, shared_data):
    raw = json.loads((shared_data / "svamp" / "SVAMP.json").read_text(encoding="utf-8"))
    rows = by_id(loads["svamp"])
    for record in raw:
        row = rows[f"svamp-{record['ID']}"]
        assert row["answer"] == float(record["Answer"])
        assert row["equation"] == record["Equation"].strip()
    assert rows["svamp-chal-1"]["question"] == (
        "Each pack of dvds costs 76 dollars. If there is a discount of 25 dollars on each pack "
        "How much do you have to pay to buy each pack?"
    )
    assert rows["svamp-chal-1"]["answer"] == 51.0
    assert [r["Type"] for r in raw if r["ID"] == "chal-967"] == ["Common-Divison"]
    assert rows["svamp-chal-967"]["type"] == "Common-Division"
    assert Counter(row["type"] for row in rows.values()) == {
        "Subtraction": 531, "Addition": 195, "Common-Division": 166, "Multiplication": 108,
    }


# --- ASDiv ---------------------------------------------------------------------------------------


def test_asdiv_problem_count_in_raw_file(shared_data):
    raw = (shared_data / "asdiv" / "ASDiv.xml").read_text(encoding="utf-8")
    assert raw.count("<Problem ") == ASDIV_PROBLEMS


def test_asdiv_spot_checks(loads):
    rows = by_id(loads["asdiv"])
    first = rows["asdiv-nluds-0001"]
    assert first == {
        "id": "asdiv-nluds-0001",
        "question": "Seven red apples and two green apples are in the basket. How many apples are in the basket?",
        "answer": 9.0,
        "source": "asdiv",
        "split": "test",
        "equation": "7+2=9",
        "type": "Addition",
    }
    assert rows["asdiv-nluds-1008"]["answer"] == 14.0  # raw "14  (seats)"
    assert rows["asdiv-nluds-0176"]["answer"] == 0.46  # raw "0.46 (dollars)"
    assert rows["asdiv-nluds-1364"]["question"].endswith("How many bales did he store in the barn?")  # raw "barn ?"
    types = Counter(row["type"] for row in rows.values())
    assert "Substraction" not in types and types["Subtraction"] == 448


def test_asdiv_drops_are_recorded_with_reasons(loads):
    dropped = dict(loads["asdiv"].dropped)
    assert len(dropped) == sum(ASDIV_DROP_REASONS.values())
    assert dropped["asdiv-nluds-1295"] == "multiple answers"  # "5 (years old); 15 (years old); 20 (years old)"
    assert dropped["asdiv-nluds-0850"] == "ratio or clock time (a:b)"  # "5:6"
    assert dropped["asdiv-nluds-0166"] == "ratio or clock time (a:b)"  # "3:30 p.m."
    assert dropped["asdiv-nluds-1331"] == "fraction (a/b)"  # "-(1/3)"
    assert dropped["asdiv-nluds-0030"] == "not a number"  # "Mrs. Hilt"
    assert not dropped.keys() & by_id(loads["asdiv"]).keys()


def test_asdiv_answers_agree_with_pal(loads, shared_data):
    """PAL's independently filtered copy (input, integer target) agrees wherever both keep a problem."""
    pal_lines = (shared_data / "asdiv" / "pal" / "asdiv.jsonl").read_text(encoding="utf-8").splitlines()
    pal = {normalise_question(r["input"]): r["target"] for r in map(json.loads, pal_lines)}
    matched = [row for row in loads["asdiv"].rows if row["question"] in pal]
    # PAL keeps 2022 single-answer problems (all integers) plus 74 first-of-several answers we drop.
    assert len(matched) == 2022
    assert all(row["answer"] == float(pal[row["question"]]) for row in matched)


# --- MultiArith ----------------------------------------------------------------------------------


def test_multiarith_against_raw(loads, shared_data):
    raw = json.loads((shared_data / "multiarith" / "MultiArith.json").read_text(encoding="utf-8"))
    rows = by_id(loads["multiarith"])
    for record in raw:
        row = rows[f"multiarith-{record['iIndex']}"]
        assert row["answer"] == float(record["lSolutions"][0])
        assert row["question"] == record["sQuestion"].strip()  # only padding to remove in this file
    first = rows["multiarith-0"]
    assert first["answer"] == 39.0 and first["equation"] == "X=((32.0+42.0)-35.0)"
    assert first["question"].startswith("For Halloween Debby")
    # The file repeats 20 problems (iIndex 40-49 as 50-59, 340-349 as 350-359); all are kept.
    assert len({row["question"] for row in rows.values()}) == 580
    assert rows["multiarith-40"]["question"] == rows["multiarith-50"]["question"]


# --- helpers -------------------------------------------------------------------------------------


def test_normalise_question():
    assert normalise_question("  How  many\tare   left ? ") == "How many are left?"
    assert normalise_question("on average , how many . Tenly has 5") == "on average, how many. Tenly has 5"
    assert normalise_question("it takes .5 hours\u00a0more") == "it takes .5 hours more"


def test_iter_jsonl_bytes_round_trips(loads):
    rows = loads["gsm8k-test"].rows
    lines = list(iter_jsonl_bytes(rows))
    assert len(lines) == len(rows)
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert [json.loads(line.decode("utf-8")) for line in lines] == rows
    # Non-ASCII stays as UTF-8 rather than \u escapes: row 0 has "Janet’s".
    assert "Janet’s".encode("utf-8") in lines[0]


def test_iter_jsonl_bytes_rejects_nan():
    with pytest.raises(ValueError):
        list(iter_jsonl_bytes([{"id": "x", "answer": float("nan")}]))
