"""EoT solving throughput: our parser + exact solver (sandboxed) vs XoT-style sympify + solve.

    .venv/bin/python benchmarks/verifier_eot.py [--workers 2] [--baseline-timeout 5]

Systems: gpt-3.5's 1319 recorded EoT outputs on GSM8K test (read from ../shared at run
time). The baseline does what XoT's solver does -- every line with ``=`` becomes
``sympify(lhs) - sympify(rhs)`` and ``sympy.solve`` solves the lot -- in worker
processes (``sympify`` evaluates its input, so even the baseline never runs it in this
process), with the same concurrency and a per-system timeout. Goal: >= 3x.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time

from _common import machine, percentiles, run_concurrently, xot_records

from distillery.verifier.config import VerifierConfig
from distillery.verifier.records import ThoughtRecord
from distillery.verifier.verifier import Verifier


def xot_style_solve(text: str) -> float | None:
    """XoT's approach, reproduced for comparison (runs in a pool process only)."""
    import sympy

    equations = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("%") or "=" not in line:
            continue
        lhs, rhs = line.split("=")[:2]
        equations.append(sympy.sympify(f"({lhs}) - ({rhs})"))
    solution = sympy.solve(equations, dict=True)
    if not solution:
        return None
    value = solution[0].get(sympy.Symbol("ans"))
    return float(value) if value is not None and value.is_number else None


def _baseline_one(text: str) -> float:
    started = time.perf_counter()
    try:
        xot_style_solve(text)
    except Exception:  # noqa: BLE001 -- the baseline's failures count as done, like XoT's
        pass
    return (time.perf_counter() - started) * 1000


def run_baseline(texts: list[str], workers: int, timeout_s: float) -> tuple[float, list[float]]:
    latencies = []
    started = time.perf_counter()
    pool = multiprocessing.Pool(workers)
    try:
        pool.map(_baseline_one, texts[:workers])  # import sympy in every process first
        started = time.perf_counter()
        pending = [pool.apply_async(_baseline_one, (t,)) for t in texts]
        for result in pending:
            try:
                latencies.append(result.get(timeout=timeout_s))
            except multiprocessing.TimeoutError:
                latencies.append(timeout_s * 1000)  # counted at the limit, as XoT's timeout did
        elapsed = time.perf_counter() - started
    finally:
        pool.terminate()
    return len(texts) / elapsed, latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-timeout", type=float, default=5.0)
    args = parser.parse_args()
    texts = [row["reason/eot"] for row in xot_records("eot")]

    with Verifier(VerifierConfig(workers=args.workers)) as verifier:
        verifier.start()

        def ours(text: str) -> None:
            verifier.verify(ThoughtRecord(id=0, thought_type="eot", text=text))

        run_concurrently(ours, texts[:50], args.workers)  # warm-up
        ours_rate, latencies = run_concurrently(ours, texts, args.workers)
    base_rate, base_latencies = run_baseline(texts, args.workers, args.baseline_timeout)
    print(json.dumps({
        "benchmark": "eot_solving", "machine": machine(), "concurrency": args.workers, "systems": len(texts),
        "ours_sandboxed": {"systems_per_s": round(ours_rate, 1), **percentiles(latencies)},
        "xot_sympify_solve": {"systems_per_s": round(base_rate, 1), **percentiles(base_latencies)},
        "speedup": round(ours_rate / base_rate, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
