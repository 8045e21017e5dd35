"""Client SDK for ``TrainerService``."""

from __future__ import annotations

from collections.abc import Iterator

from distillery.core.grpc_client import ServiceClient
from distillery.v1 import trainer_pb2 as pb
from distillery.v1 import trainer_pb2_grpc as pb_grpc


class TrainerClient(ServiceClient):
    stub_class = pb_grpc.TrainerServiceStub

    def submit(self, config: dict, share: bool = False) -> pb.TrainJob:
        request = pb.SubmitJobRequest(share=share)
        request.config.update(config)
        return self._stub.SubmitJob(request, metadata=self._metadata)

    def get(self, job_id: str) -> pb.TrainJob:
        return self._stub.GetJob(pb.JobRef(id=job_id), metadata=self._metadata)

    def list(self) -> list[pb.TrainJob]:
        return list(self._stub.ListJobs(pb.ListJobsRequest(), metadata=self._metadata).jobs)

    def watch(self, job_id: str) -> Iterator[pb.TrainJob]:
        return self._stub.WatchJob(pb.JobRef(id=job_id), metadata=self._metadata)

    def cancel(self, job_id: str) -> pb.TrainJob:
        return self._stub.CancelJob(pb.JobRef(id=job_id), metadata=self._metadata)
