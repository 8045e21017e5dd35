"""gRPC ``TrainerService``: translates calls to the job manager and its failures to status codes.

Jobs are the team's own; the caller's token travels with the job."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from distillery.core.auth import bearer_token
from distillery.core.pydantic_proto import from_message, to_message
from distillery.registry.principals import PrincipalCache
from distillery.core.service_errors import answered_as_status
from distillery.trainer.job_manager import JobManager
from distillery.trainer.job_records import TERMINAL, FailureKind, TrainingJob
from distillery.trainer.trainer_config import TrainerConfig
from distillery.v1 import trainer_config_pb2 as config_pb
from distillery.v1 import trainer_pb2 as pb
from distillery.v1 import trainer_pb2_grpc as pb_grpc

STATES = {"queued": pb.JOB_STATE_QUEUED, "running": pb.JOB_STATE_RUNNING, "succeeded": pb.JOB_STATE_SUCCEEDED,
          "failed": pb.JOB_STATE_FAILED, "cancelled": pb.JOB_STATE_CANCELLED}
FAILURE_KINDS = {kind: pb.FailureKind.Value(f"FAILURE_KIND_{kind.name}") for kind in FailureKind}
# Every TrainMetrics field is filled from the job's view of the same name.
METRIC_FIELDS = set(pb.TrainMetrics.DESCRIPTOR.fields_by_name)


def job_to_pb(job: TrainingJob) -> pb.TrainJob:
    return pb.TrainJob(
        id=job.id, team=job.team, state=STATES[job.state], run=job.run,
        metrics=pb.TrainMetrics(**{k: v for k, v in job.metrics.items() if k in METRIC_FIELDS}),
        last_checkpoint_step=job.last_checkpoint, resumed_from_step=job.resumed_from, restarts=job.restarts,
        workers=[pb.WorkerInfo(rank=w["rank"], pid=w["pid"], node=w["node"], resumed_from_step=w["resumed_from"])
                 for _, w in sorted(job.workers.items())],
        model=job.model, error=job.error, failure_kind=FAILURE_KINDS[job.failure_kind], created_at=job.created_at, finished_at=job.finished_at,
        config=to_message(job.config, config_pb.TrainerConfig))


class TrainerServicer(pb_grpc.TrainerServiceServicer):
    def __init__(self, principals: PrincipalCache, jobs: JobManager) -> None:
        self.principals = principals
        self.jobs = jobs

    def _team(self, context: grpc.ServicerContext) -> tuple[str, str]:
        token = bearer_token(context.invocation_metadata()) or ""
        return self.principals.principal(token).team, token

    def _job(self, request: pb.JobRef, context: grpc.ServicerContext) -> TrainingJob:
        team, _ = self._team(context)
        return self.jobs.get(request.id, team)

    def SubmitJob(self, request: pb.SubmitJobRequest, context: grpc.ServicerContext) -> pb.TrainJob:
        with answered_as_status(context, whole="config"):
            team, token = self._team(context)
            config = from_message(request.config, TrainerConfig)
            return job_to_pb(self.jobs.submit(config, team, token, request.share))

    def GetJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.TrainJob:
        with answered_as_status(context, whole="config"):
            return job_to_pb(self._job(request, context))

    def ListJobs(self, request: pb.ListJobsRequest, context: grpc.ServicerContext) -> pb.ListJobsResponse:
        with answered_as_status(context, whole="config"):
            team, _ = self._team(context)
            return pb.ListJobsResponse(jobs=[job_to_pb(j) for j in self.jobs.list(team)])

    def WatchJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> Iterator[pb.TrainJob]:
        with answered_as_status(context, whole="config"):
            job = self._job(request, context)
        while context.is_active():
            version = job.version
            yield job_to_pb(job)
            if job.state in TERMINAL:
                return
            self.jobs.wait_for_change(job, version)

    def CancelJob(self, request: pb.JobRef, context: grpc.ServicerContext) -> pb.TrainJob:
        with answered_as_status(context, whole="config"):
            job = self._job(request, context)
        if job.state not in TERMINAL:
            self.jobs.cancel(job)
        return job_to_pb(job)
