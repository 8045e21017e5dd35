"""Count how many recorded XoT EoT outputs (gpt-3.5, GSM8K test) solve_eot gets right.

Reads the shared reference file at run time (it is never copied into the repo) and
prints correct/total, the count per status, speed, and XoT's own recorded count.

    PYTHONPATH=services python3 benchmarks/eot_xot_count.py [path] [--diff]
"""

from __future__ import annotations

import collections
import json
import sys
import time

from distillery.verifier.eot import solve_eot

DEFAULT_PATH = "/work/shared/data/teacher/xot/outputs/gsm/eot/demo_eot_0_end.jsonl"


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show_diff = "--diff" in sys.argv
    with open(args[0] if args else DEFAULT_PATH, encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    statuses: collections.Counter[str] = collections.Counter()
    correct = xot_correct = 0
    started = time.perf_counter()
    for record in records:
        gold = record["inst/gold_answer"]
        outcome = solve_eot(record["reason/eot"])
        statuses[str(outcome.status)] += 1
        ours = outcome.answer is not None and abs(outcome.answer - gold) < 1e-3
        theirs = record["reason/eot/score"] == 1.0
        correct += ours
        xot_correct += theirs
        if show_diff and ours != theirs:
            print(f"{'GAIN' if ours else 'LOSS'} id={record['id']} gold={gold} "
                  f"ours={outcome.answer} ({outcome.status}: {outcome.error}) xot={record['reason/eot/ans']}")
    elapsed = time.perf_counter() - started
    print(f"correct {correct}/{len(records)} (XoT's own solver: {xot_correct})")
    print("statuses", dict(statuses.most_common()))
    print(f"{len(records) / elapsed:.0f} systems/s ({elapsed:.2f} s total, in-process)")


if __name__ == "__main__":
    main()
