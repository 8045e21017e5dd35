"""Helpers shared by the benchmarks: where the reference data is, and latency percentiles."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("DISTILLERY_SHARED_DATA", REPO.parent / "shared" / "data"))


def xot_records(thought_type: str) -> list[dict]:
    """gpt-3.5's recorded GSM8K-test outputs (reference use only; read, never copied)."""
    path = SHARED_DATA / "teacher" / "xot" / "outputs" / "gsm" / thought_type / f"demo_{thought_type}_0_end.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def percentiles(latencies_ms: list[float]) -> dict[str, float]:
    ordered = sorted(latencies_ms)
    cut = statistics.quantiles(ordered * 2 if len(ordered) == 1 else ordered, n=100, method="inclusive")  # one: itself
    return {"p50_ms": round(cut[49], 2), "p99_ms": round(cut[98], 2), "max_ms": round(ordered[-1], 2)}


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown CPU")
    return f"{os.cpu_count()} cores, {model}"


def run_concurrently(run_one: Callable[[str], object], items: list[str], workers: int) -> tuple[float, list[float]]:
    """Items per second with ``workers`` calls in flight, and each call's latency in ms."""

    def timed(item: str) -> float:
        started = time.perf_counter()
        run_one(item)
        return (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(workers) as pool:
        started = time.perf_counter()
        latencies = list(pool.map(timed, items))
    return len(items) / (time.perf_counter() - started), latencies
