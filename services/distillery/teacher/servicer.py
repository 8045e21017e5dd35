"""gRPC ``TeacherService``: translates calls to the teacher's runner and its failures to status codes.

Jobs run in the calling thread, with the caller's token (:mod:`distillery.teacher.running`); the
failures and their codes are :mod:`distillery.teacher.errors`. HTTP teachers come from the
operator's pools (or, if allowed, the team's own endpoint with the team's key):
:mod:`distillery.teacher.pools`; ``ListPools`` tells a caller which of them its team may use."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc

from distillery.core.auth import bearer_token
from distillery.core.pydantic_proto import from_message
from distillery.core.service_errors import answered_as_status
from distillery.registry.principals import PrincipalCache
from distillery.teacher.config import TeacherGeneration, TeacherJobConfig
from distillery.teacher.job import JobProgress, JobResult
from distillery.teacher.pools import TeacherServiceConfig
from distillery.teacher.running import TeacherJobRunner
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_pb2_grpc as pb_grpc


def job_config(message: pb.TeacherJob) -> TeacherJobConfig:
    """The job a ``RunJob`` call carries; ValidationError (INVALID_ARGUMENT naming the field) if invalid."""
    return from_message(message.config, TeacherJobConfig)


def generate_config(request: pb.GenerateRequest) -> TeacherJobConfig:
    """A ``Generate`` call as the job it is configured like (its problems come inline)."""
    return from_message(request.generation, TeacherGeneration).job(problems="inline", out="inline")


def progress_to_pb(progress: JobProgress) -> pb.TeacherJobProgress:
    return pb.TeacherJobProgress(
        problems_total=progress.problems_total, problems_done=progress.problems_done,
        generated=progress.generated, duplicates=progress.duplicates, accepted=dict(progress.accepted),
        rejected=dict(progress.rejected), output_tokens=progress.output_tokens,
        tokens_per_s=progress.tokens_per_s, elapsed_s=progress.elapsed_s, resumed_from=progress.resumed_from,
        variants_kept=progress.variants_kept, variants_dropped=progress.variants_dropped,
        contaminated=progress.contaminated)


def event_to_pb(event: JobProgress | JobResult) -> pb.TeacherJobEvent:
    if isinstance(event, JobProgress):
        return pb.TeacherJobEvent(progress=progress_to_pb(event))
    return pb.TeacherJobEvent(progress=progress_to_pb(event.progress), result=pb.TeacherJobResult(
        dataset=event.dataset, rejected=event.rejected or "", yield_by_type=event.yield_by_type,
        variants=event.variants or ""))


def pools_to_pb(service: TeacherServiceConfig, team: str) -> pb.ListPoolsResponse:
    """What ``team`` may use of the operator's config: no URL, key or other team's pool."""
    return pb.ListPoolsResponse(
        pools=[pb.TeacherPoolInfo(name=pool.name, models=list(pool.models), restricted=bool(pool.teams))
               for pool in service.pools_for(team)],
        team_endpoints=service.team_endpoints.open_to(team))


def problem_row(problem: pb.Problem) -> dict:
    row = {"id": problem.id, "question": problem.question, "rationale": problem.rationale,
           "equation": problem.equation}
    if problem.HasField("answer"):
        row["answer"] = problem.answer
    return row


class TeacherServicer(pb_grpc.TeacherServiceServicer):
    def __init__(self, registry_address: str, verifier_address: str, work_dir: Path | None = None,
                 service_config: TeacherServiceConfig | None = None, principals: PrincipalCache | None = None) -> None:
        """``principals``: the server's token validator when it is one, so a caller's team costs no
        second ``WhoAmI``; by default the servicer's own."""
        self.teacher = TeacherJobRunner(registry_address, verifier_address,
                                        work_dir or Path(tempfile.gettempdir()) / "distillery-teacher",
                                        service_config or TeacherServiceConfig(),
                                        principals or PrincipalCache(registry_address))

    def RunJob(self, request: pb.TeacherJob, context: grpc.ServicerContext) -> Iterator[pb.TeacherJobEvent]:
        with answered_as_status(context, whole="job"):
            token = bearer_token(context.invocation_metadata())
            config = job_config(request)
            backend = self.teacher.backend(config, token, request.endpoint_api_key or None)
            for event in self.teacher.run_job(config, token, backend):
                yield event_to_pb(event)

    def Generate(self, request: pb.GenerateRequest, context: grpc.ServicerContext) -> Iterator[pb.GeneratedThought]:
        with answered_as_status(context, whole="job"):
            token = bearer_token(context.invocation_metadata())
            config = generate_config(request)
            backend = self.teacher.backend(config, token, request.endpoint_api_key or None)
            for thought in self.teacher.generate(config, token, backend, [problem_row(p) for p in request.problems]):
                yield pb.GeneratedThought(problem_id=thought.problem_id, thought_type=thought.thought_type,
                                          sample_index=thought.sample_index, text=thought.text)

    def ListPools(self, request: pb.ListPoolsRequest, context: grpc.ServicerContext) -> pb.ListPoolsResponse:
        with answered_as_status(context):
            token = bearer_token(context.invocation_metadata())
            team = self.teacher.principals.principal(token).team
            return pools_to_pb(self.teacher.service_config, team)
