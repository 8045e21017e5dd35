"""The limits a deployment puts on one request and on one team (``Limits``), applied. Pure.

The request shapes (:mod:`solving`, :mod:`openai_api`) check counts and lengths in their
validators against the deployment's ``Limits``, given as pydantic validation context
(``model_validate_json(raw, context=validation_context(limits))``); without context they use
the defaults. The body size and the per-team concurrency are checked here, by the ingress,
before a body is parsed or any generation is queued.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationInfo

from distillery.serving.config import Limits
from distillery.serving.errors import ServingError

DEFAULT_LIMITS = Limits()


def validation_context(limits: Limits) -> dict:
    return {"limits": limits}


def limits_from(info: ValidationInfo) -> Limits:
    context = info.context or {}
    return context.get("limits") or DEFAULT_LIMITS


def at_most(value: int, info: ValidationInfo, limit_name: str) -> int:
    """``value`` if the deployment's limit ``limit_name`` allows it; else the error names both."""
    limit = getattr(limits_from(info), limit_name)
    if value > limit:
        raise ValueError(f"is {value}; at most {limit} ({limit_name})")
    return value


class LimitExceeded(ServingError):
    """A request over a limit: ``status`` 413 (body), 429 (team busy)."""


def body_too_large(limit: int, size: int | None = None) -> LimitExceeded:
    said = f"request body is {size} bytes" if size is not None else "request body is larger"
    return LimitExceeded(413, f"{said}; at most {limit} bytes (max_body_bytes)", "invalid_request_error",
                         "request_too_large")


def check_declared_length(content_length: str | None, limit: int) -> None:
    """Refuse on the Content-Length header alone, before a byte of the body is read."""
    if content_length is None:
        return  # chunked: counted while it streams
    try:
        size = int(content_length)
    except ValueError:
        raise LimitExceeded(400, f"Content-Length {content_length[:40]!r} is not a number",
                            "invalid_request_error", "invalid_content_length") from None
    if size > limit:
        raise body_too_large(limit, size)


class BodyCounter:
    """Adds up a streamed body's chunks; raises once they pass the limit (nothing more is read)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise body_too_large(self.limit)


class TeamGate:
    """At most ``limit`` requests in flight per team. Over it: 429 at once, never a queue -- a
    queue would hold the flooding team's requests (and their memory) here. Keyed by the team the
    registry authenticated, so other tokens of the same team share its count and other teams
    have their own."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}
        self._lock = threading.Lock()  # gRPC and HTTP handlers may run on different threads

    def in_flight(self, team: str) -> int:
        return self._in_flight.get(team, 0)

    @contextmanager
    def admit(self, team: str) -> Iterator[None]:
        with self._lock:
            busy = self._in_flight.get(team, 0)
            if busy >= self.limit:
                raise LimitExceeded(
                    429, f"team {team!r} has {busy} requests in flight on this deployment; at most {self.limit} "
                         "(team_max_concurrent); retry when one has answered",
                    "rate_limit_error", "rate_limit_exceeded")
            self._in_flight[team] = busy + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._in_flight[team] - 1
                if left:
                    self._in_flight[team] = left
                else:
                    del self._in_flight[team]
