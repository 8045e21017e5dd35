"""The registry's expected failures, and the one place they become gRPC status codes."""

from __future__ import annotations

import grpc


class RegistryError(Exception):
    code = grpc.StatusCode.INTERNAL


class InvalidArgument(RegistryError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RegistryError):
    code = grpc.StatusCode.NOT_FOUND


class PermissionDenied(RegistryError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(RegistryError):
    code = grpc.StatusCode.UNAUTHENTICATED


class AlreadyExists(RegistryError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(RegistryError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class DataLoss(RegistryError):
    """Stored bytes do not match their checksum: never hand out silently wrong data."""

    code = grpc.StatusCode.DATA_LOSS
