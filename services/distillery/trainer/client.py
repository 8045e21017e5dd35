"""Client SDK for ``TrainerService``."""

from __future__ import annotations

from collections.abc import Iterator

from distillery.core.grpc_client import ServiceClient
from distillery.core.pydantic_proto import to_message
from distillery.trainer.job_records import FailureKind
from distillery.trainer.trainer_config import TrainerConfig
from distillery.v1 import trainer_config_pb2 as config_pb
from distillery.v1 import trainer_pb2 as pb
from distillery.v1 import trainer_pb2_grpc as pb_grpc


class TrainerClient(ServiceClient):
    stub_class = pb_grpc.TrainerServiceStub

    def submit(self, config: TrainerConfig | pb.SubmitJobRequest, *, share: bool = False) -> pb.TrainJob:
        """Queue ``config`` (or a prepared request, as a jobs stage holds it)."""
        request = config if isinstance(config, pb.SubmitJobRequest) else pb.SubmitJobRequest(
            config=to_message(config, config_pb.TrainerConfig), share=share)
        return self._stub.SubmitJob(request, metadata=self._metadata)

    def get(self, job_id: str) -> pb.TrainJob:
        return self._stub.GetJob(pb.JobRef(id=job_id), metadata=self._metadata)

    def list(self) -> list[pb.TrainJob]:
        return list(self._stub.ListJobs(pb.ListJobsRequest(), metadata=self._metadata).jobs)

    def watch(self, job_id: str) -> Iterator[pb.TrainJob]:
        return self._stub.WatchJob(pb.JobRef(id=job_id), metadata=self._metadata)

    def cancel(self, job_id: str) -> pb.TrainJob:
        return self._stub.CancelJob(pb.JobRef(id=job_id), metadata=self._metadata)


def failure_kind(job: pb.TrainJob) -> FailureKind:
    """Why ``job`` failed, as the trainer's records name it (a kind newer than this client: unspecified)."""
    try:
        return FailureKind[pb.FailureKind.Name(job.failure_kind).removeprefix("FAILURE_KIND_")]
    except (ValueError, KeyError):
        return FailureKind.UNSPECIFIED


def ended_without_model(job: pb.TrainJob) -> str:
    """``trainer: job ID failed (bad input): CAUSE``: how a job that registered no model ended."""
    state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
    kind = failure_kind(job)
    told = f" ({kind.value.replace('_', ' ')})" if kind is not FailureKind.UNSPECIFIED else ""
    return f"trainer: job {job.id} {state}{told}: {job.error}"
