"""The jobs service's expected failures and the gRPC status each is answered with: in one place.

The controller raises these; the servicer only translates (``answered_as_status``). A refused
quota carries a ``google.rpc.QuotaFailure`` a caller can act on (which team, which limit), read
with ``grpc_status.rpc_status.from_call``.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from distillery.core.service_errors import ServiceError


class InvalidJob(ServiceError, ValueError):
    """A spec that cannot run: a bad field, a reference that does not resolve."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class JobNotFound(ServiceError):
    """No job (or stage run) of the caller's team has this id."""

    code = grpc.StatusCode.NOT_FOUND


class ReferenceNotFound(ServiceError):
    """A spec names a dataset or model the registry does not have for the caller's team."""

    code = grpc.StatusCode.NOT_FOUND


class ReferenceDenied(ServiceError):
    """A spec names a dataset or model the caller's team may not read."""

    code = grpc.StatusCode.PERMISSION_DENIED


class NotAllowed(ServiceError):
    code = grpc.StatusCode.PERMISSION_DENIED


class QuotaExceeded(ServiceError):
    """The job would take the team past one of its quotas."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, message: str, team: str, limit: str) -> None:
        super().__init__(message)
        self.team, self.limit = team, limit

    def rich_status(self) -> grpc.Status:
        violation = error_details_pb2.QuotaFailure.Violation(subject=f"team:{self.team}", description=str(self),
                                                             quota_id=self.limit)
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.QuotaFailure(violations=[violation]))
        return rpc_status.to_status(status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=str(self),
                                                      details=[detail]))
