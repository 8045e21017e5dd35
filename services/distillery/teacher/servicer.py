"""gRPC ``TeacherService``: jobs run in the calling thread, with the caller's token."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import grpc
from pydantic import ValidationError

from distillery.core.auth import bearer_token
from distillery.registry.client import RegistryClient, header
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.backends.factory import BackendCache, BackendUnavailable
from distillery.teacher.config import Sampling, TeacherJobConfig
from distillery.teacher.job import JobProgress, run_job
from distillery.v1 import teacher_pb2 as pb
from distillery.v1 import teacher_pb2_grpc as pb_grpc
from distillery.verifier.client import VerifierClient
from distillery.core.errors import field_errors


def _sampling(message: pb.Sampling | None) -> Sampling:
    defaults = Sampling()
    if message is None:
        return defaults
    return Sampling(temperature=message.temperature, top_p=message.top_p or defaults.top_p,
                    max_tokens=message.max_tokens or defaults.max_tokens, seed=message.seed)


def job_config(message: pb.TeacherJob) -> TeacherJobConfig:
    fields = {"problems": message.problems, "backend": message.backend or "annotations", "out": message.out,
              "share": message.share, "samples": message.samples or 1,
              "sampling": _sampling(message.sampling if message.HasField("sampling") else None)}
    for name in ("model", "endpoint"):
        if getattr(message, name):
            fields[name] = getattr(message, name)
    if message.limit:
        fields["limit"] = message.limit
    if message.thought_types:
        fields["thought_types"] = tuple(message.thought_types)
    if message.batch_size:
        fields["batch_size"] = message.batch_size
    return TeacherJobConfig(**fields)


def progress_to_pb(progress: JobProgress) -> pb.TeacherJobProgress:
    return pb.TeacherJobProgress(
        problems_total=progress.problems_total, problems_done=progress.problems_done,
        generated=progress.generated, duplicates=progress.duplicates, accepted=dict(progress.accepted),
        rejected=dict(progress.rejected), output_tokens=progress.output_tokens,
        tokens_per_s=progress.tokens_per_s, elapsed_s=progress.elapsed_s, resumed_from=progress.resumed_from)


class TeacherServicer(pb_grpc.TeacherServiceServicer):
    def __init__(self, registry_address: str, verifier_address: str, work_dir: Path | None = None) -> None:
        self.registry_address = registry_address
        self.verifier_address = verifier_address
        self.work_dir = work_dir or Path(tempfile.gettempdir()) / "distillery-teacher"
        self.backends = BackendCache()

    def RunJob(self, request: pb.TeacherJob, context: grpc.ServicerContext) -> Iterator[pb.TeacherJobEvent]:
        token = bearer_token(context.invocation_metadata())
        config, backend = self._prepare(request, context)
        with RegistryClient(self.registry_address, token) as registry, \
                VerifierClient(self.verifier_address, token) as verifier:
            try:
                problems_manifest = registry.show(config.problems)
                if problems_manifest.kind != 2:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"problems: {problems_manifest.ref} is not a `problems` dataset")
                problems = _read_rows(registry, problems_manifest.ref)

                def push(name: str, path: Path, parents: list[str], lineage_config: dict, meta: dict) -> str:
                    return registry.push_file(header(name, "dataset", parents, meta, config.share, "teacher",
                                                     lineage_config), path).ref

                # A client that goes away closes this generator between batches: the finished
                # batches are in the checkpoint, and the same job resumes from there.
                for event in run_job(config, problems_manifest.ref, problems, backend, verifier.verify_many, push,
                                     self.work_dir / token_scope(token)):
                    if isinstance(event, JobProgress):
                        yield pb.TeacherJobEvent(progress=progress_to_pb(event))
                    else:
                        yield pb.TeacherJobEvent(progress=progress_to_pb(event.progress), result=pb.TeacherJobResult(
                            dataset=event.dataset, rejected=event.rejected or "", yield_by_type=event.yield_by_type))
            except grpc.RpcError as exc:  # the registry or verifier refused: pass its verdict on
                context.abort(exc.code(), exc.details())

    def _prepare(self, request: pb.TeacherJob, context: grpc.ServicerContext):
        try:
            config = job_config(request)
            return config, self.backends.get(config)
        except ValidationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, field_errors(exc.errors(), whole="job"))
        except BackendUnavailable as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))

    def Generate(self, request: pb.GenerateRequest, context) -> Iterator[pb.GeneratedThought]:
        message = pb.TeacherJob(backend=request.backend, model=request.model, endpoint=request.endpoint,
                                thought_types=request.thought_types, samples=request.samples,
                                sampling=request.sampling, problems="inline", out="inline")
        config, backend = self._prepare(message, context)
        for problem in request.problems:
            row = {"id": problem.id, "question": problem.question, "rationale": problem.rationale,
                   "equation": problem.equation}
            if problem.HasField("answer"):
                row["answer"] = problem.answer
            requests = [GenerationRequest(row, t, config.samples) for t in config.thought_types]
            for generation_request, generation in zip(requests, backend.generate(requests, config.sampling)):
                for index, text in enumerate(generation.texts):
                    yield pb.GeneratedThought(problem_id=problem.id, thought_type=generation_request.thought_type,
                                              sample_index=index, text=text)


def token_scope(token: str | None) -> str:
    """Jobs of different callers never share checkpoints."""
    from distillery.core.auth import hash_token

    return hash_token(token or "")[:16]


def _read_rows(registry: RegistryClient, ref: str) -> list[dict]:
    import json

    return [json.loads(line) for chunk in registry.pull(ref) for line in chunk.splitlines() if line.strip()]
