"""The trainer's expected failures and the gRPC status each is answered with: in one place.

The job manager raises these; the servicer only translates (``answered_as_status``).
"""

from __future__ import annotations

import grpc

from distillery.core.service_errors import ServiceError


class InvalidConfig(ServiceError):
    """The job cannot run as asked: a bad field, a reference of the wrong kind, a path."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NoSuchJob(ServiceError):
    """No job of the caller's team has this id (other teams' jobs do not exist for it)."""

    code = grpc.StatusCode.NOT_FOUND
