"""Score a student's generated thoughts with the platform's sandboxed verifier: accuracy per
thought type, and two ETD combinations of the three -- majority vote over the executable
answers (ties broken PoT > EoT > CoT), and a fallback order (the first type that executes).

    .venv/bin/python benchmarks/score_thoughts.py thoughts.jsonl
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services"))

from distillery.core.outcome import Status  # noqa: E402
from distillery.core.ensemble import fallback, vote  # noqa: E402
from distillery.verifier.config import VerifierConfig  # noqa: E402
from distillery.verifier.grade import is_correct  # noqa: E402
from distillery.verifier.records import ThoughtRecord  # noqa: E402
from distillery.verifier.verifier import Verifier  # noqa: E402

def main() -> None:
    rows = [json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]
    records = [ThoughtRecord(id=r["id"], thought_type=r["thought_type"], text=r["text"], gold=r["gold"]) for r in rows]
    per_problem: dict[str, dict] = collections.defaultdict(dict)
    gold: dict[str, float] = {}
    correct = collections.Counter()
    with Verifier(VerifierConfig(workers=2)) as verifier:
        for row, verdict in zip(rows, verifier.verify_many(records)):
            gold[row["problem_id"]] = row["gold"]
            correct[row["thought_type"]] += bool(verdict.correct)
            if verdict.status is Status.OK:
                per_problem[row["problem_id"]][row["thought_type"]] = verdict.answer
    n = len(gold)
    def chosen_correct(choose, answers: dict[str, float], gold_answer: float) -> bool:
        thought_type = choose(answers)
        return thought_type is not None and is_correct(answers[thought_type], gold_answer) is True

    fallen_back = sum(chosen_correct(fallback, a, gold[p]) for p, a in per_problem.items())
    voted = sum(chosen_correct(vote, a, gold[p]) for p, a in per_problem.items())
    either = sum(any(is_correct(v, gold[p]) for v in a.values()) for p, a in per_problem.items())
    table = {t: f"{correct[t]}/{n} = {correct[t] / n:.1%}" for t in ("cot", "pot", "eot")}
    table.update({"etd_vote": f"{voted}/{n} = {voted / n:.1%}", "etd_fallback": f"{fallen_back}/{n} = {fallen_back / n:.1%}",
                  "any_correct (oracle)": f"{either}/{n} = {either / n:.1%}"})
    print(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
