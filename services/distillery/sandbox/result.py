"""The result of one execution, as a child reports it and as its parents check it.

The child (trusted runner code, after the program ran) writes exactly one length-prefixed
JSON frame to its result pipe and exits. The parents do not trust what arrives: with the
Python policy on, a program has no path to that pipe, but with the policy off (a mode for
testing the OS layers) or after an escape it could write anything. So both the worker
(:func:`decode_child_result`) and the service (:func:`check_reply`) accept only a single
frame holding an object with exactly the expected keys, a status from the ``Status``
vocabulary, a finite float answer exactly when the status is ``ok``, and bounded strings.
Anything else is the execution's ``exec_error`` -- never a crash of the worker, the pool or
a batch of thoughts.

Pure logic, no I/O; small on purpose (the worker imports it and forks per task).
"""

from __future__ import annotations

import json
import math
import struct

from distillery.core.outcome import Status

_HEADER = struct.Struct(">I")
RESULT_KEYS = frozenset({"status", "answer", "error", "stdout"})
TIMING_KEYS = frozenset({"wall_ms", "cpu_ms"})
MAX_ERROR_CHARS = 300  # Outcome.fail keeps this much of a reason
STATUSES = frozenset(status.value for status in Status)


class MalformedResult(ValueError):
    """What arrived is not a result the sandbox could have produced; the message says why."""


def encode_child_result(result: dict) -> bytes:
    """The frame a child writes: 4-byte big-endian length, then the JSON object."""
    payload = json.dumps(result, separators=(",", ":"), allow_nan=False).encode()
    return _HEADER.pack(len(payload)) + payload


def _refuse_constant(name: str):
    raise MalformedResult(f"non-finite number {name}")


def decode_child_result(data: bytes, max_stdout_chars: int) -> dict:
    """The one result frame in ``data`` (everything the child wrote), checked."""
    if len(data) < _HEADER.size:
        raise MalformedResult(f"{len(data)} bytes, not a result frame")
    (size,) = _HEADER.unpack_from(data)
    end = _HEADER.size + size
    if len(data) < end:
        raise MalformedResult(f"frame of {size} bytes announced, {len(data) - _HEADER.size} arrived")
    if len(data) > end:
        raise MalformedResult(f"{len(data) - end} bytes after the result frame")
    try:
        value = json.loads(data[_HEADER.size:end], parse_constant=_refuse_constant)
    except MalformedResult:
        raise
    except (ValueError, RecursionError) as exc:
        raise MalformedResult(f"not JSON ({type(exc).__name__})") from None
    return check_result(value, max_stdout_chars)


def check_result(value: object, max_stdout_chars: int, timing: bool = False) -> dict:
    """``value`` if it is a well-formed result (``timing``: with wall_ms/cpu_ms), else raise."""
    if not isinstance(value, dict):
        raise MalformedResult(f"a JSON {type(value).__name__}, not an object")
    keys = set(value)
    expected = RESULT_KEYS | TIMING_KEYS if timing else RESULT_KEYS
    if keys != expected:
        missing, extra = sorted(expected - keys), sorted(map(str, keys - expected))
        raise MalformedResult(f"keys: missing {missing}, unexpected {extra[:5]}")
    status, answer, error, stdout = value["status"], value["answer"], value["error"], value["stdout"]
    if not isinstance(status, str) or status not in STATUSES:
        raise MalformedResult(f"status {str(status)[:40]!r} is not one of {', '.join(sorted(STATUSES))}")
    if answer is not None:
        if type(answer) not in (int, float):
            raise MalformedResult(f"answer is a {type(answer).__name__}, not a number")
        if not math.isfinite(answer):
            raise MalformedResult("answer is not finite")
    if (status == Status.OK.value) != (answer is not None):
        raise MalformedResult(f"status {status} with answer {'absent' if answer is None else 'present'}")
    if error is not None and (not isinstance(error, str) or len(error) > MAX_ERROR_CHARS):
        raise MalformedResult(f"error is not a string of at most {MAX_ERROR_CHARS} characters")
    if not isinstance(stdout, str) or len(stdout) > max_stdout_chars:
        raise MalformedResult(f"stdout is not a string of at most {max_stdout_chars} characters")
    if timing:
        for key in TIMING_KEYS:
            if type(value[key]) not in (int, float) or not math.isfinite(value[key]) or value[key] < 0:
                raise MalformedResult(f"{key} is not a non-negative number")
    return {**value, "answer": None if answer is None else float(answer)}
