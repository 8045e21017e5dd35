"""gRPC ``JobService``: the controller behind team authentication; translates calls and failures only."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc

from distillery.core.auth import bearer_token
from distillery.jobs.controller import Controller
from distillery.core.service_errors import answered_as_status
from distillery.jobs.errors import InvalidJob, NotAllowed
from distillery.jobs.records import JobRecord
from distillery.jobs.spec import SpecError, parse_spec
from distillery.registry.principals import PrincipalCache
from distillery.v1 import jobs_pb2 as pb
from distillery.v1 import jobs_pb2_grpc as pb_grpc

WATCH_HEARTBEAT_S = 15.0


def job_to_pb(record: JobRecord) -> pb.DistillJob:
    stages = [pb.Stage(name=s.name, state=s.state, attempts=s.attempts, run_id=s.run_id, key=s.key, outputs=s.outputs,
                       error=s.error, started_at=s.started_at, finished_at=s.finished_at, result=s.result)
              for s in record.stages]
    return pb.DistillJob(id=record.id, team=record.team, name=record.name, state=record.state, stages=stages,
                         problems=record.problems, error=record.error, created_at=record.created_at,
                         updated_at=record.updated_at, spec=json.dumps(record.spec), backend=record.backend)


class JobServicer(pb_grpc.JobServiceServicer):
    def __init__(self, principals: PrincipalCache, controller: Controller) -> None:
        self.principals = principals
        self.controller = controller

    def _caller(self, context: grpc.ServicerContext) -> tuple[str | None, str]:
        """(team, token); team None for the admin, who sees every team."""
        token = bearer_token(context.invocation_metadata()) or ""
        principal = self.principals.principal(token)
        return (None if principal.admin else principal.team), token

    def SubmitJob(self, request: pb.SubmitDistillJobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        with answered_as_status(context):
            team, token = self._caller(context)
            if team is None:
                raise NotAllowed("submit jobs with a team token, not the admin's")
            try:
                spec = parse_spec(request.spec)
            except SpecError as exc:
                raise InvalidJob(str(exc)) from None
            return job_to_pb(self.controller.submit(team, token, spec))

    def GetJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        with answered_as_status(context):
            team, _ = self._caller(context)
            return job_to_pb(self.controller.get(request.id, team))

    def ListJobs(self, request: pb.ListDistillJobsRequest, context: grpc.ServicerContext) -> pb.ListDistillJobsResponse:
        with answered_as_status(context):
            team, _ = self._caller(context)
            if request.all_teams and team is not None:
                raise NotAllowed("listing every team's jobs needs the admin token")
            if team is None and not request.all_teams:
                return pb.ListDistillJobsResponse()
            return pb.ListDistillJobsResponse(jobs=[job_to_pb(r) for r in self.controller.list(team)])

    def CancelJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        with answered_as_status(context):
            team, _ = self._caller(context)
            return job_to_pb(self.controller.cancel(request.id, team))

    def WatchJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> Iterator[pb.DistillJobEvent]:
        with answered_as_status(context):
            team, _ = self._caller(context)
            record = self.controller.get(request.id, team)
        seen = record.version
        yield pb.DistillJobEvent(job=job_to_pb(record), message=_last_event(record))
        while context.is_active() and record.active:
            record = self.controller.watch(request.id, team, seen, WATCH_HEARTBEAT_S)
            if record.version != seen:
                messages = [e.message for e in record.events[-(record.version - seen):]]
                seen = record.version
                yield pb.DistillJobEvent(job=job_to_pb(record), message="; ".join(messages))
            elif record.active:
                yield pb.DistillJobEvent(job=job_to_pb(record), message="")  # heartbeat: elapsed times move

    def GetLogs(self, request: pb.LogsRequest, context: grpc.ServicerContext) -> pb.Logs:
        with answered_as_status(context):
            team, _ = self._caller(context)
            return pb.Logs(text=self.controller.logs(request.id, team, request.stage or None))

    def GetStageRun(self, request: pb.StageRunRef, context: grpc.ServicerContext) -> pb.StageRequest:
        with answered_as_status(context):
            team, _ = self._caller(context)
            return self.controller.stage_request(request.run_id, team)

    def ReportStageRun(self, request: pb.StageRunReport, context: grpc.ServicerContext) -> pb.StageRunAck:
        with answered_as_status(context):
            team, _ = self._caller(context)
            self.controller.report_stage(request.run_id, team, request)
            return pb.StageRunAck()


def _last_event(record: JobRecord) -> str:
    return record.events[-1].message if record.events else ""
