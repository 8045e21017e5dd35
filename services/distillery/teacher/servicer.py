"""gRPC ``TeacherService``: jobs run in the calling thread, with the caller's token.

HTTP teachers come from the operator's pools (or, if allowed, the team's own endpoint with the
team's key): :mod:`distillery.teacher.pools`."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path

import grpc
from pydantic import ValidationError

from distillery.core.auth import bearer_token
from distillery.registry.client import RegistryClient, WrongKind, header
from distillery.registry.principals import PrincipalCache, UnknownToken
from distillery.teacher.backends.base import GenerationRequest
from distillery.teacher.backends.factory import LOCAL_ENGINES, BackendCache, BackendUnavailable
from distillery.student.model_refs import ModelRefError, resolve_student
from distillery.teacher.config import Sampling, TeacherJobConfig
from distillery.teacher.job import GenerationFailed, JobProgress, run_job
from distillery.teacher.pools import EndpointRefused, TeacherServiceConfig, UnknownPool, http_backend
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


class BadJob(ValueError):
    """A request whose fields contradict each other (INVALID_ARGUMENT, the message names the field)."""


def job_config(message: pb.TeacherJob) -> TeacherJobConfig:
    # A pool or an endpoint means the HTTP teacher; otherwise the default is the annotations one.
    default_backend = "openai" if message.pool or message.endpoint else "annotations"
    fields = {"problems": message.problems, "backend": message.backend or default_backend, "out": message.out,
              "share": message.share, "samples": message.samples or 1,
              "sampling": _sampling(message.sampling if message.HasField("sampling") else None)}
    for name in ("model", "pool", "endpoint"):
        if getattr(message, name):
            fields[name] = getattr(message, name)
    if message.limit:
        fields["limit"] = message.limit
    if message.thought_types:
        fields["thought_types"] = tuple(message.thought_types)
    if message.batch_size:
        fields["batch_size"] = message.batch_size
    if message.variants:
        fields["variants"] = message.variants
    # An empty repeated field is the default list; the guard goes off only when asked to.
    if message.no_contamination_guard:
        if message.contamination_guard:
            raise BadJob("contamination_guard: give the datasets or no_contamination_guard, not both")
        fields["contamination_guard"] = ()
    elif message.contamination_guard:
        fields["contamination_guard"] = tuple(message.contamination_guard)
    return TeacherJobConfig(**fields)


def missing_guard_dataset(name: str) -> str:
    """Why a job stops when a dataset of its contamination guard is not in the caller's team."""
    from distillery.registry.benchmarks import BENCHMARKS

    how = (f"import it with `distillery registry import-benchmarks --only {name}`" if name in BENCHMARKS
           else "push it with `distillery registry push --kind problems`")
    return (f"contamination_guard: no `problems` dataset {name!r} in your team; {how}, or set "
            "contamination_guard to [] (teacher generate --no-guard) to turn the guard off")


def progress_to_pb(progress: JobProgress) -> pb.TeacherJobProgress:
    return pb.TeacherJobProgress(
        problems_total=progress.problems_total, problems_done=progress.problems_done,
        generated=progress.generated, duplicates=progress.duplicates, accepted=dict(progress.accepted),
        rejected=dict(progress.rejected), output_tokens=progress.output_tokens,
        tokens_per_s=progress.tokens_per_s, elapsed_s=progress.elapsed_s, resumed_from=progress.resumed_from,
        variants_kept=progress.variants_kept, variants_dropped=progress.variants_dropped,
        contaminated=progress.contaminated)


class TeacherServicer(pb_grpc.TeacherServiceServicer):
    def __init__(self, registry_address: str, verifier_address: str, work_dir: Path | None = None,
                 service_config: TeacherServiceConfig | None = None, principals: PrincipalCache | None = None) -> None:
        """``principals``: the server's token validator when it is one, so a caller's team costs no
        second ``WhoAmI``; by default the servicer's own."""
        self.registry_address = registry_address
        self.principals = principals or PrincipalCache(registry_address)
        self.verifier_address = verifier_address
        self.work_dir = work_dir or Path(tempfile.gettempdir()) / "distillery-teacher"
        self.backends = BackendCache()
        self.service_config = service_config or TeacherServiceConfig()
        self.pool_backends: dict = {}  # pool name -> its backend (one rate limiter per pool)
        # Built contamination guards by the resolved refs they hold (TEAM/NAME@VERSION, so per
        # team): building one indexes every question of the benchmarks (about a second).
        self._guards: OrderedDict[tuple[str, ...], object] = OrderedDict()
        self._guards_lock = threading.Lock()

    def RunJob(self, request: pb.TeacherJob, context: grpc.ServicerContext) -> Iterator[pb.TeacherJobEvent]:
        token = bearer_token(context.invocation_metadata())
        config, backend = self._prepare(request, context, token)
        with RegistryClient(self.registry_address, token) as registry, \
                VerifierClient(self.verifier_address, token) as verifier:
            try:
                problems_manifest = registry.resolve(config.problems, kind="problems", field="problems")
                problems = registry.read_rows(problems_manifest.ref)
                guard, guard_refs = self._guard(config, registry, context)
                if problems_manifest.ref.split("@")[0] in {ref.split("@")[0] for ref in guard_refs}:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"problems: {problems_manifest.ref} is an evaluation set in contamination_guard; "
                                  "every problem would be refused (teach from another set, or --no-guard if it is "
                                  "not evaluated on)")

                def push(name: str, path: Path, parents: list[str], lineage_config: dict, meta: dict,
                         kind: str = "dataset") -> str:
                    return registry.push_file(header(name, kind, parents=parents, meta=meta, share=config.share,
                                                     stage="teacher", config=lineage_config), path).ref

                # A client that goes away closes this generator between batches: the finished
                # batches are in the checkpoint, and the same job resumes from there.
                for event in run_job(config, problems_manifest.ref, problems, backend, verifier.verify_many, push,
                                     self.work_dir / token_scope(token), guard=guard,
                                     # the guard's exact versions: in the lineage next to problems_resolved,
                                     # and in the job's identity (a new version of one is a new job)
                                     lineage={"contamination_guard_resolved": guard_refs}):
                    if isinstance(event, JobProgress):
                        yield pb.TeacherJobEvent(progress=progress_to_pb(event))
                    else:
                        yield pb.TeacherJobEvent(progress=progress_to_pb(event.progress), result=pb.TeacherJobResult(
                            dataset=event.dataset, rejected=event.rejected or "", yield_by_type=event.yield_by_type,
                            variants=event.variants or ""))
            except WrongKind as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except grpc.RpcError as exc:  # the registry or verifier refused: pass its verdict on
                context.abort(exc.code(), exc.details())
            except GenerationFailed as exc:  # nothing of the batch was kept: re-running resumes
                context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; the job stopped, run it again to resume")

    def _prepare(self, request: pb.TeacherJob, context: grpc.ServicerContext, token: str | None):
        try:
            config = job_config(request)
            if config.backend == "openai":
                return config, http_backend(config, self.service_config, lambda: self._team(token),
                                            request.endpoint_api_key or None, self.pool_backends)
            if request.endpoint_api_key:
                raise UnknownPool("endpoint_api_key: only with `endpoint`")
            return config, self.backends.get(config, self._model_dir(config, token, context))
        except ValidationError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, field_errors(exc.errors(), whole="job"))
        except (UnknownPool, BadJob) as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except EndpointRefused as exc:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, str(exc))
        except BackendUnavailable as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except UnknownToken as exc:  # asked for the caller's team (a pool that lists teams)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        except grpc.RpcError as exc:
            context.abort(exc.code(), f"registry: {exc.details()}")

    def _guard(self, config: TeacherJobConfig, registry: RegistryClient, context: grpc.ServicerContext):
        """The job's contamination guard and the refs it was built from (None, [] when it is off):
        each dataset resolved in the caller's team with the caller's token, on every job."""
        if not config.contamination_guard:
            return None, []
        manifests = {}
        for name in config.contamination_guard:
            try:
                manifests[name] = registry.resolve(name, kind="problems", field="contamination_guard")
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    context.abort(grpc.StatusCode.FAILED_PRECONDITION, missing_guard_dataset(name))
                raise
            except WrongKind as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        refs = [m.ref for m in manifests.values()]
        key = tuple(refs)
        with self._guards_lock:
            if key in self._guards:
                self._guards.move_to_end(key)
                return self._guards[key], refs
        from distillery.teacher.contamination import ContaminationGuard

        guard = ContaminationGuard.build({name: [(str(row["id"]), row["question"])
                                                 for row in registry.read_rows(manifest.ref)]
                                          for name, manifest in manifests.items()})
        with self._guards_lock:
            self._guards[key] = guard
            while len(self._guards) > GUARD_CACHE_SIZE:
                self._guards.popitem(last=False)
        return guard, refs

    def _model_dir(self, config: TeacherJobConfig, token: str | None, context: grpc.ServicerContext) -> Path | None:
        """The engine's checkpoint for ``model`` (hf, vllm): an alias, or a registry model this
        caller may read -- asked of the registry with the caller's token on every job, even when
        the engine is already loaded. Never a path from the request."""
        if config.backend not in LOCAL_ENGINES or not config.model:
            return None
        with RegistryClient(self.registry_address, token) as registry:
            try:
                return resolve_student(config.model, registry, field="model").path
            except ModelRefError as exc:  # a path, or no such model: the field is named
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            except grpc.RpcError as exc:  # the registry refused this team the model
                context.abort(exc.code(), f"model: {exc.details()}")

    def _team(self, token: str | None) -> str:
        """The caller's team (asked only when a pool lists teams)."""
        return self.principals.principal(token).team

    def Generate(self, request: pb.GenerateRequest, context) -> Iterator[pb.GeneratedThought]:
        message = pb.TeacherJob(backend=request.backend, model=request.model, endpoint=request.endpoint,
                                pool=request.pool, endpoint_api_key=request.endpoint_api_key,
                                thought_types=request.thought_types, samples=request.samples,
                                sampling=request.sampling, problems="inline", out="inline",
                                contamination_guard=request.contamination_guard,
                                no_contamination_guard=request.no_contamination_guard)
        token = bearer_token(context.invocation_metadata())
        config, backend = self._prepare(message, context, token)
        with RegistryClient(self.registry_address, token) as registry:
            guard, _ = self._guard(config, registry, context)
        for index, problem in enumerate(request.problems):
            match = guard.match(problem.question) if guard else None
            if match:  # inline problems get the same guard as a job's: nothing is generated for them
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"problems[{index}]: the question {match.describe()}; "
                              "the contamination guard refuses evaluation questions")
        for problem in request.problems:
            row = {"id": problem.id, "question": problem.question, "rationale": problem.rationale,
                   "equation": problem.equation}
            if problem.HasField("answer"):
                row["answer"] = problem.answer
            requests = [GenerationRequest(row, t, config.samples) for t in config.thought_types]
            for generation_request, generation in zip(requests, backend.generate(requests, config.sampling)):
                if generation.failed:  # say so instead of streaming nothing
                    context.abort(grpc.StatusCode.UNAVAILABLE, generation.errors[0] if generation.errors
                                  else "generation failed")
                for index, text in enumerate(generation.texts):
                    yield pb.GeneratedThought(problem_id=problem.id, thought_type=generation_request.thought_type,
                                              sample_index=index, text=text)


GUARD_CACHE_SIZE = 8  # guards kept built (one per team and set of versions)


def token_scope(token: str | None) -> str:
    """Jobs of different callers never share checkpoints."""
    from distillery.core.auth import hash_token

    return hash_token(token or "")[:16]
