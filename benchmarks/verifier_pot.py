"""PoT verification throughput: the sandbox pool vs one fresh ``python -c`` per program.

    .venv/bin/python benchmarks/verifier_pot.py [--workers 2] [--baseline-programs 300]

Programs: gpt-3.5's 1319 recorded PoT outputs on GSM8K test (read from ../shared at run
time). Both sides run with the same concurrency (``--workers`` at a time) on the same
machine in the same run; the ratio compares them on the same programs. Goal: >= 10x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from _common import machine, percentiles, run_concurrently, xot_records

from distillery.verifier.config import VerifierConfig
from distillery.verifier.records import ThoughtRecord
from distillery.verifier.verifier import Verifier


def naive(program: str) -> None:
    """The baseline: a fresh interpreter per program, no isolation at all."""
    subprocess.run([sys.executable, "-c", program + "\nprint(ans)"], capture_output=True, timeout=10, check=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-programs", type=int, default=300)
    args = parser.parse_args()
    programs = [row["reason/pot"] for row in xot_records("pot")]

    with Verifier(VerifierConfig(workers=args.workers)) as verifier:
        verifier.start()

        def sandboxed(program: str) -> None:
            verifier.verify(ThoughtRecord(id=0, thought_type="pot", text=program))

        run_concurrently(sandboxed, programs[:50], args.workers)  # warm-up
        full_rate, full_latencies = run_concurrently(sandboxed, programs, args.workers)
        subset = programs[: args.baseline_programs]
        ours_rate, _ = run_concurrently(sandboxed, subset, args.workers)
    naive_rate, naive_latencies = run_concurrently(naive, subset, args.workers)

    print(json.dumps({
        "benchmark": "pot_verification", "machine": machine(), "concurrency": args.workers,
        "sandbox_all_1319": {"programs_per_s": round(full_rate, 1), **percentiles(full_latencies)},
        "same_subset": {"programs": len(subset), "sandbox_programs_per_s": round(ours_rate, 1),
                        "naive_python_c_programs_per_s": round(naive_rate, 1),
                        "naive_latency": percentiles(naive_latencies),
                        "speedup": round(ours_rate / naive_rate, 2)},
    }, indent=2))


if __name__ == "__main__":
    main()
