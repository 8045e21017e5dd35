"""gRPC ``TrainerService``: jobs are the team's own; the caller's token travels with the job."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.protobuf import json_format
from pydantic import ValidationError

from distillery.core.auth import bearer_token
from distillery.core.errors import field_errors
from distillery.core.model_refs import ModelRefError, is_alias, show_model
from distillery.registry.client import RegistryClient
from distillery.trainer.config import TrainConfig
from distillery.trainer.jobs import TERMINAL, Job, JobManager
from distillery.v1 import registry_pb2 as registry_pb
from distillery.v1 import trainer_pb2 as pb
from distillery.v1 import trainer_pb2_grpc as pb_grpc

STATES = {"queued": pb.JOB_STATE_QUEUED, "running": pb.JOB_STATE_RUNNING, "succeeded": pb.JOB_STATE_SUCCEEDED,
          "failed": pb.JOB_STATE_FAILED, "cancelled": pb.JOB_STATE_CANCELLED}
# Every TrainMetrics field is filled from the job's view of the same name.
METRIC_FIELDS = set(pb.TrainMetrics.DESCRIPTOR.fields_by_name)


def job_to_pb(job: Job) -> pb.TrainJob:
    message = pb.TrainJob(
        id=job.id, team=job.team, state=STATES[job.state], run=job.run,
        metrics=pb.TrainMetrics(**{k: v for k, v in job.metrics.items() if k in METRIC_FIELDS}),
        last_checkpoint_step=job.last_checkpoint, resumed_from_step=job.resumed_from, restarts=job.restarts,
        workers=[pb.WorkerInfo(rank=w["rank"], pid=w["pid"], node=w["node"], resumed_from_step=w["resumed_from"])
                 for _, w in sorted(job.workers.items())],
        model=job.model, error=job.error, created_at=job.created_at, finished_at=job.finished_at)
    message.config.update(job.config.model_dump(mode="json"))
    return message


class TrainerServicer(pb_grpc.TrainerServiceServicer):
    def __init__(self, registry_address: str, jobs: JobManager) -> None:
        self.registry_address = registry_address
        self.jobs = jobs

    def _team(self, context: grpc.ServicerContext) -> tuple[str, str]:
        token = bearer_token(context.invocation_metadata()) or ""
        try:
            with RegistryClient(self.registry_address, token) as registry:
                return registry.whoami().team, token
        except grpc.RpcError as exc:
            context.abort(exc.code(), f"registry: {exc.details()}")

    def _job(self, request: pb.JobRef, context: grpc.ServicerContext) -> Job:
        team, _ = self._team(context)
        job = self.jobs.get(request.id, team)
        if job is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no training job {request.id!r}")
        return job

    def SubmitJob(self, request: pb.SubmitJobRequest, context: grpc.ServicerContext) -> pb.TrainJob:
        team, token = self._team(context)
        try:
            config = TrainConfig(**json_format.MessageToDict(request.config))
        except ValidationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, field_errors(exc.errors(), whole="config"))
        if config.max_steps is None and float(config.epochs).is_integer():
            config = config.model_copy(update={"epochs": int(config.epochs)})  # Struct numbers are floats
        # Pin the dataset version now: "NAME" means the latest *today*, and the run key (what a
        # resubmission resumes) must not silently continue a run made on another version.
        with RegistryClient(self.registry_address, token) as registry:
            try:
                dataset = registry.show(config.dataset)
            except grpc.RpcError as exc:
                context.abort(exc.code(), f"dataset: {exc.details()}")
            if dataset.kind != registry_pb.KIND_DATASET:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"dataset: {dataset.ref} is not a thought dataset")
            base = self._base(registry, config.base, context)  # pinned too: part of the run key
        config = config.model_copy(update={"dataset": dataset.ref, "base": base})
        return job_to_pb(self.jobs.submit(config, team, token, request.share))

    @staticmethod
    def _base(registry: RegistryClient, base: str, context: grpc.ServicerContext) -> str:
        """The student to start from, checked with the caller's token and pinned (TEAM/NAME@V).

        A registry model must be one this team may read: without this check a job could copy
        another team's unshared weights into its own namespace."""
        if is_alias(base):
            return base
        try:
            return show_model(registry, base, "base").ref
        except ModelRefError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except grpc.RpcError as exc:
            context.abort(exc.code(), f"base: {exc.details()}")

    def GetJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.TrainJob:
        return job_to_pb(self._job(request, context))

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        team, _ = self._team(context)
        return pb.ListJobsResponse(jobs=[job_to_pb(j) for j in self.jobs.list(team)])

    def WatchJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> Iterator[pb.TrainJob]:
        job = self._job(request, context)
        while context.is_active():
            version = job.version
            yield job_to_pb(job)
            if job.state in TERMINAL:
                return
            self.jobs.wait_for_change(job, version)

    def CancelJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.TrainJob:
        job = self._job(request, context)
        if job.state not in TERMINAL:
            self.jobs.cancel(job)
        return job_to_pb(job)
