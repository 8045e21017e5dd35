"""Client SDK for ``TeacherService``."""

from __future__ import annotations

from collections.abc import Iterator

from distillery.core.auth import bearer_metadata
from distillery.core.grpc_server import open_channel
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_pb2_grpc as pb_grpc


class TeacherClient:
    def __init__(self, address: str, token: str | None) -> None:
        self._channel = open_channel(address)
        self._stub = pb_grpc.TeacherServiceStub(self._channel)
        self._metadata = bearer_metadata(token)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "TeacherClient":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def run_job(self, job: pb.TeacherJob) -> Iterator[pb.TeacherJobEvent]:
        return self._stub.RunJob(job, metadata=self._metadata)

    def generate(self, request: pb.GenerateRequest) -> Iterator[pb.GeneratedThought]:
        return self._stub.Generate(request, metadata=self._metadata)
