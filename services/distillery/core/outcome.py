"""The value every verification step returns: a status, an answer and a short reason.

Failures are values, not exceptions (the Math-Verify habit): a thought that cannot be
executed or solved is a normal, expected result and is reported with one of the
statuses below plus a one-line ``error``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    """Why a thought did or did not produce a numeric answer (the DESIGN.md contract)."""

    OK = "ok"  # a finite numeric answer
    NO_ANSWER = "no_answer"  # ran/solved fine but no (numeric, determined) answer
    PARSE_ERROR = "parse_error"  # text could not be parsed as the thought type
    EXEC_ERROR = "exec_error"  # raised, crashed, or the system has no solution
    TIMEOUT = "timeout"  # wall-clock or CPU time limit hit
    RESOURCE_LIMIT = "resource_limit"  # memory, output, recursion or size limit hit
    UNSAFE = "unsafe"  # refused by policy or stopped by the sandbox

    def __str__(self) -> str:  # so f-strings and JSON show "ok", not "Status.OK"
        return self.value


@dataclass(frozen=True)
class Outcome:
    status: Status
    answer: float | None = None
    error: str | None = None

    @classmethod
    def ok(cls, answer: float) -> "Outcome":
        if not math.isfinite(answer):
            return cls(Status.NO_ANSWER, None, f"answer is not finite ({answer})")
        return cls(Status.OK, float(answer), None)

    @classmethod
    def fail(cls, status: Status, error: str) -> "Outcome":
        return cls(status, None, error[:300])
