"""Client SDK for ``TeacherService``."""

from __future__ import annotations

from collections.abc import Iterator

from distillery.core.grpc_client import ServiceClient
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_pb2_grpc as pb_grpc


class TeacherClient(ServiceClient):
    stub_class = pb_grpc.TeacherServiceStub

    def run_job(self, job: pb.TeacherJob) -> Iterator[pb.TeacherJobEvent]:
        return self._stub.RunJob(job, metadata=self._metadata)

    def generate(self, request: pb.GenerateRequest) -> Iterator[pb.GeneratedThought]:
        return self._stub.Generate(request, metadata=self._metadata)

    def list_pools(self, timeout: float | None = None) -> pb.ListPoolsResponse:
        """The pools the caller's team may name (and whether it may bring its own endpoint)."""
        return self._stub.ListPools(pb.ListPoolsRequest(), metadata=self._metadata, timeout=timeout)
