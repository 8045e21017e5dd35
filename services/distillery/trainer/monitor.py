"""A small Ray actor between a job's workers and the service: live events in, cancel out.

Ray Train's ``report`` carries metrics to the controller only when a checkpoint-style round
completes; operators want every few steps, and a way to stop a run. Workers on any node of
the cluster reach this named actor; the service polls it.
"""

from __future__ import annotations

import time

import ray


@ray.remote(num_cpus=0)
class RunMonitor:
    def __init__(self) -> None:
        self._events: list[dict] = []
        self._cancelled = False

    def record(self, event: dict) -> None:
        self._events.append({**event, "time": time.time()})

    def events_since(self, index: int) -> list[dict]:
        return self._events[index:]

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled
