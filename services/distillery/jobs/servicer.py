"""gRPC ``JobService``: the controller behind team authentication."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc

from distillery.core.auth import TokenCache, bearer_token
from distillery.jobs.controller import ACTIVE, Controller, InvalidJob, JobNotFound, QuotaExceeded
from distillery.jobs.spec import SpecError, parse_spec
from distillery.registry.client import RegistryClient
from distillery.v1 import jobs_pb2 as pb
from distillery.v1 import jobs_pb2_grpc as pb_grpc

WATCH_HEARTBEAT_S = 15.0


def job_to_pb(record: dict) -> pb.DistillJob:
    stages = [pb.Stage(name=s["name"], state=s["state"], attempts=s["attempts"], run_id=s["run_id"], key=s["key"],
                       outputs=s["outputs"], error=s["error"], started_at=s["started_at"],
                       finished_at=s["finished_at"]) for s in record["stages"]]
    return pb.DistillJob(id=record["id"], team=record["team"], name=record["name"], state=record["state"],
                         stages=stages, problems=record["problems"], error=record["error"],
                         created_at=record["created_at"], updated_at=record["updated_at"],
                         spec=json.dumps(record["spec"]), backend=record["backend"])


class JobServicer(pb_grpc.JobServiceServicer):
    def __init__(self, registry_address: str, controller: Controller) -> None:
        self.registry_address = registry_address
        self.controller = controller
        self._principals = TokenCache()  # trusted for DISTILLERY_TOKEN_CACHE_TTL_S at most

    def _caller(self, context: grpc.ServicerContext) -> tuple[str | None, str]:
        """(team, token); team None for the admin, who sees every team."""
        token = bearer_token(context.invocation_metadata()) or ""

        def ask(token: str):
            with RegistryClient(self.registry_address, token) as registry:
                principal = registry.whoami()
            return (None if principal.admin else principal.team,)

        try:
            (team,) = self._principals.lookup(token, ask)
        except grpc.RpcError as exc:
            context.abort(exc.code(), f"registry: {exc.details()}")
        return team, token

    def SubmitJob(self, request: pb.SubmitDistillJobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        team, token = self._caller(context)
        if team is None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "submit jobs with a team token, not the admin's")
        try:
            spec = parse_spec(request.spec)
            record = self.controller.submit(team, token, spec)
        except (SpecError, InvalidJob) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except QuotaExceeded as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return job_to_pb(record)

    def GetJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        team, _ = self._caller(context)
        return job_to_pb(self._get(request.id, team, context))

    def ListJobs(self, request: pb.ListDistillJobsRequest, context: grpc.ServicerContext) -> pb.ListDistillJobsResponse:
        team, _ = self._caller(context)
        if request.all_teams and team is not None:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "listing every team's jobs needs the admin token")
        if team is None and not request.all_teams:
            return pb.ListDistillJobsResponse()
        return pb.ListDistillJobsResponse(jobs=[job_to_pb(r) for r in self.controller.list(team)])

    def CancelJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> pb.DistillJob:
        team, _ = self._caller(context)
        try:
            return job_to_pb(self.controller.cancel(request.id, team))
        except JobNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))

    def WatchJob(self, request: pb.JobRequest, context: grpc.ServicerContext) -> Iterator[pb.DistillJobEvent]:
        team, _ = self._caller(context)
        record = self._get(request.id, team, context)
        seen = record["version"]
        yield pb.DistillJobEvent(job=job_to_pb(record), message=_last_event(record))
        while context.is_active() and record["state"] in ACTIVE:
            record = self.controller.watch(request.id, team, seen, WATCH_HEARTBEAT_S)
            if record["version"] != seen:
                messages = [e["message"] for e in record["events"][-(record["version"] - seen):]]
                seen = record["version"]
                yield pb.DistillJobEvent(job=job_to_pb(record), message="; ".join(messages))
            elif record["state"] in ACTIVE:
                yield pb.DistillJobEvent(job=job_to_pb(record), message="")  # heartbeat: elapsed times move

    def GetLogs(self, request: pb.LogsRequest, context: grpc.ServicerContext) -> pb.Logs:
        team, _ = self._caller(context)
        try:
            return pb.Logs(text=self.controller.logs(request.id, team, request.stage or None))
        except JobNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))

    def _get(self, job_id: str, team: str | None, context: grpc.ServicerContext) -> dict:
        try:
            return self.controller.get(job_id, team)
        except JobNotFound as exc:
            context.abort(grpc.StatusCode.NOT_FOUND, str(exc))


def _last_event(record: dict) -> str:
    return record["events"][-1]["message"] if record["events"] else ""
