"""Why a stage failed, in one line, and whether another attempt could mend it. Pure.

Retryable: the infrastructure (a service UNAVAILABLE or past its deadline, a connection or disk
error, a driver process that died without reporting). Not retryable: the request itself (bad
input, no permission, not found) -- every attempt would fail the same way, so the job fails at
once. The whole story (tracebacks, progress) stays in the stage's log: ``distillery jobs logs``.
"""

from __future__ import annotations

import grpc

from distillery.v1 import trainer_pb2

# Status codes that say the request itself is wrong: no other attempt can succeed.
NOT_RETRYABLE = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                           grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS,
                           grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.UNIMPLEMENTED})
# Python errors that come from the input, not the machine (a bad value, a missing key, a bad type).
BAD_INPUT = (ValueError, LookupError, TypeError)
MAX_CHARS = 400
# How a training run the trainer accepted failed, when it was the job's own fault: the same job
# fails the same way. Any other kind -- the infrastructure's, or one the trainer could not tell -- is retried.
FINAL_TRAINING_FAILURES = frozenset({trainer_pb2.FAILURE_KIND_BAD_INPUT, trainer_pb2.FAILURE_KIND_OUT_OF_MEMORY})


def one_line(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` on one line (every run of whitespace, newlines too, one space), at most ``limit``
    characters."""
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def classify(stage: str, exc: BaseException) -> tuple[str, bool]:
    """``(cause in one line, retryable)`` for an exception a stage's driver caught."""
    if isinstance(exc, grpc.RpcError):
        code = exc.code()
        return one_line(f"{stage}: {code.name}: {exc.details()}"), code not in NOT_RETRYABLE
    return one_line(f"{stage}: {type(exc).__name__}: {exc}"), not isinstance(exc, BAD_INPUT)


def training_retryable(kind: int) -> bool:
    """Whether another attempt of a training job that failed this way (``TrainJob.failure_kind``, the
    trainer's contract; a kind newer than this code is retried) could succeed."""
    return kind not in FINAL_TRAINING_FAILURES


def attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"
