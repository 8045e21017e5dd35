"""Expected failures of a service and the gRPC status each is answered with.

Each service defines its failures as :class:`ServiceError` subclasses in its own ``errors.py``
(the status code beside the name); its servicer wraps each handler's body in
:func:`answered_as_status`, so the mapping lives in one place and handlers only translate.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import grpc
from pydantic import ValidationError

from distillery.core.errors import field_errors


class ServiceError(Exception):
    """A failure the service expects, answered with ``code`` and the message."""

    code = grpc.StatusCode.INTERNAL

    def rich_status(self) -> grpc.Status | None:
        """A status with typed details (``google.rpc``) for callers that act on them, or None."""
        return None


class ServiceRefused(ServiceError):
    """Another service (the registry, the verifier) refused a call made for the caller -- an unknown
    reference, one not the team's, ...: its code stands, and its details, after ``field`` when one
    is named. ``error`` is the refusal itself."""

    def __init__(self, error: grpc.RpcError, field: str | None = None) -> None:
        details = error.details() or ""
        super().__init__(f"{field}: {details}" if field else details)
        self.code = error.code()
        self.error = error


@contextmanager
def answered_as_status(context: grpc.ServicerContext, whole: str = "request") -> Iterator[None]:
    """Run a handler's body; an expected failure ends the call with its status and message:
    a :class:`ServiceError` as it says, an invalid model as INVALID_ARGUMENT naming each field
    (``whole`` names a model-level error), and a failed call to another service with that
    service's code."""
    try:
        yield
    except ServiceError as exc:
        rich = exc.rich_status()
        if rich is not None:
            context.abort_with_status(rich)
        context.abort(exc.code, str(exc))
    except ValidationError as exc:
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, field_errors(exc.errors(), whole=whole))
    except grpc.RpcError as exc:  # the registry, asked who the caller is
        context.abort(exc.code(), f"registry: {exc.details()}")
