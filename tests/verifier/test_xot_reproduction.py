"""Reproduce (and beat) XoT's recorded accuracies on gpt-3.5-turbo's GSM8K-test outputs.

The files are read from ``../shared/data/teacher/xot`` at test time -- reference use
only, never copied into the repo. Everything goes through the real verifier: PoT in the
sandbox, EoT through our own parser and solver in sandbox children, CoT extraction.
XoT's own counts (of 1319): EoT 844 (its sympify-based solver), PoT 1021 (unsandboxed
``exec``), CoT 1055.
"""

from __future__ import annotations

import collections
import json

import pytest

from distillery.verifier.records import ThoughtRecord

XOT_COUNTS = {"eot": 844, "pot": 1021, "cot": 1055}
# What our verifier must reach: at least XoT's own for PoT and CoT, clearly more for EoT.
REQUIRED = {"eot": 905, "pot": 1021, "cot": 1055}


def load(shared_data, thought_type: str) -> list[ThoughtRecord]:
    path = shared_data / "teacher" / "xot" / "outputs" / "gsm" / thought_type / f"demo_{thought_type}_0_end.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(rows) == 1319
    return [ThoughtRecord(id=row["id"], thought_type=thought_type, text=row[f"reason/{thought_type}"],
                          gold=row["inst/gold_answer"]) for row in rows]


@pytest.mark.parametrize("thought_type", ["eot", "pot", "cot"])
def test_xot_gsm8k_test_outputs(verifier, shared_data, thought_type):
    records = load(shared_data, thought_type)
    verdicts = list(verifier.verify_many(records))
    correct = sum(bool(v.correct) for v in verdicts)
    statuses = collections.Counter(v.status.value for v in verdicts)
    print(f"\n{thought_type}: {correct}/1319 correct (XoT: {XOT_COUNTS[thought_type]}); {dict(statuses)}")
    assert correct >= REQUIRED[thought_type]
    # Nothing the teacher wrote trips the sandbox's hard stops: these are honest programs.
    assert statuses["unsafe"] == 0
