"""The serving layer's expected failures and how each is answered: an HTTP status with OpenAI's
error shape on the HTTP routes, the matching gRPC status on ``StudentService``. One table."""

from __future__ import annotations

import grpc

# HTTP status -> the gRPC status the same failure gets on the gRPC route.
GRPC_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
              403: grpc.StatusCode.PERMISSION_DENIED, 404: grpc.StatusCode.NOT_FOUND,
              413: grpc.StatusCode.INVALID_ARGUMENT, 429: grpc.StatusCode.RESOURCE_EXHAUSTED,
              503: grpc.StatusCode.UNAVAILABLE}


class ServingError(Exception):
    """A failure answered with ``status`` and OpenAI's ``{"error": {message, type, code}}``."""

    def __init__(self, status: int, message: str, kind: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return GRPC_CODES.get(self.status, grpc.StatusCode.UNKNOWN)


class ServiceUnavailable(ServingError):
    """A dependency (model replicas, verifier, registry) could not answer: 503 / UNAVAILABLE."""

    def __init__(self, message: str) -> None:
        super().__init__(503, message, "service_unavailable")
