"""Stage failures classified: the request's own faults are final, the infrastructure's are retried;
the cause is one line whatever the error carried. Pure (real gRPC errors as a stage sees them)."""

from __future__ import annotations

import grpc
import pytest

from distillery.jobs.failures import attempts, classify, one_line


class Refused(grpc.RpcError):
    """What a stub raises for a refused call: a code and details."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize("code, retryable", [
    (grpc.StatusCode.INVALID_ARGUMENT, False), (grpc.StatusCode.NOT_FOUND, False),
    (grpc.StatusCode.PERMISSION_DENIED, False), (grpc.StatusCode.FAILED_PRECONDITION, False),
    (grpc.StatusCode.UNAVAILABLE, True), (grpc.StatusCode.DEADLINE_EXCEEDED, True),
    (grpc.StatusCode.RESOURCE_EXHAUSTED, True), (grpc.StatusCode.INTERNAL, True),
])
def test_refusals_are_final_and_outages_are_retried(code, retryable):
    error, again = classify("teacher", Refused(code, "problems: nope\n  (details)"))
    assert (error, again) == (f"teacher: {code.name}: problems: nope (details)", retryable)


@pytest.mark.parametrize("exc, retryable", [
    (ValueError("bad benchmark"), False), (KeyError("split"), False), (TypeError("not a list"), False),
    (ConnectionResetError("peer went away"), True), (TimeoutError("slow"), True), (RuntimeError("oom"), True),
])
def test_python_errors_of_the_input_are_final_and_of_the_machine_are_retried(exc, retryable):
    error, again = classify("eval", exc)
    assert error.startswith(f"eval: {type(exc).__name__}: ") and again is retryable


def test_the_cause_is_one_bounded_line():
    assert one_line("Traceback (most recent call last):\n  File x\nValueError: boom\n") == \
        "Traceback (most recent call last): File x ValueError: boom"
    long = one_line("x" * 1000, limit=50)
    assert len(long) == 50 and long.endswith("…") and "\n" not in long
    assert (attempts(1), attempts(3)) == ("1 attempt", "3 attempts")
