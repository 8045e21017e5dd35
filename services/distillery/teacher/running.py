"""What the teacher service does for a caller, with the caller's token: dataset jobs and inline
generations. The servicer only translates to and from protobuf (:mod:`.servicer`).

:class:`TeacherJobRunner` holds what outlives a call: the loaded engine (:class:`BackendCache`),
one backend per pool (each pool's rate limiter is shared by every job on it) and the built
contamination guards. Expected failures are :mod:`.errors`; a refusal of the registry or the
verifier is :class:`~.errors.ServiceRefused`, its code standing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc

from distillery.registry.client import RegistryClient, WrongKind, header
from distillery.registry.principals import PrincipalCache
from distillery.student.model_refs import ModelRefError, resolve_student
from distillery.teacher.backends.base import GenerationRequest, TeacherBackend
from distillery.teacher.backends.factory import LOCAL_ENGINES, BackendCache
from distillery.teacher.config import TeacherJobConfig
from distillery.teacher.contamination import ContaminationGuard
from distillery.teacher.errors import (BadJob, EvaluationProblems, GenerationFailed, GuardDatasetMissing,
                                       ServiceRefused)
from distillery.teacher.job import JobProgress, JobResult, run_job
from distillery.teacher.pools import TeacherServiceConfig, http_backend
from distillery.verifier.client import VerifierClient

GUARD_CACHE_SIZE = 8  # guards kept built (one per team and set of versions)


@dataclass(frozen=True)
class InlineThought:
    """One sample of an inline generation (``Generate``): not verified, not stored."""

    problem_id: str
    thought_type: str
    sample_index: int
    text: str


class TeacherJobRunner:
    def __init__(self, registry_address: str, verifier_address: str, work_dir: Path,
                 service_config: TeacherServiceConfig, principals: PrincipalCache) -> None:
        """``principals``: names the caller's team, asked only when a pool or the team
        endpoints list teams."""
        self.registry_address = registry_address
        self.verifier_address = verifier_address
        self.work_dir = work_dir
        self.service_config = service_config
        self.principals = principals
        self.backends = BackendCache()
        self.pool_backends: dict = {}  # pool name -> its backend (one rate limiter per pool)
        # Built contamination guards by the resolved refs they hold (TEAM/NAME@VERSION, so per
        # team): building one indexes every question of the benchmarks (about a second).
        self._guards: OrderedDict[tuple[str, ...], ContaminationGuard] = OrderedDict()
        self._guards_lock = threading.Lock()

    # ------------------------------------------------------------ the backend

    def backend(self, config: TeacherJobConfig, token: str | None, endpoint_api_key: str | None) -> TeacherBackend:
        """The job's backend: its pool's or the team's endpoint (``openai``), else the engine
        (loaded once, kept between jobs). ``endpoint_api_key``: the team's key for its endpoint."""
        if config.backend == "openai":
            return http_backend(config, self.service_config, lambda: self.principals.principal(token).team,
                                endpoint_api_key, self.pool_backends)
        if endpoint_api_key:
            raise BadJob("endpoint_api_key: only with `endpoint`")
        return self.backends.get(config, self._model_dir(config, token))

    def _model_dir(self, config: TeacherJobConfig, token: str | None) -> Path | None:
        """The engine's checkpoint for ``model`` (hf, vllm): an alias, or a registry model this
        caller may read -- asked of the registry with the caller's token on every job, even when
        the engine is already loaded. Never a path from the request."""
        if config.backend not in LOCAL_ENGINES or not config.model:
            return None
        with RegistryClient(self.registry_address, token) as registry:
            try:
                return resolve_student(config.model, registry, field="model").path
            except ModelRefError as exc:  # a path, or no such model: the field is named
                raise BadJob(str(exc)) from None
            except grpc.RpcError as exc:  # the registry refused this team the model
                raise ServiceRefused(exc, field="model") from None

    # ------------------------------------------------------------ a dataset job

    def run_job(self, config: TeacherJobConfig, token: str | None,
                backend: TeacherBackend) -> Iterator[JobProgress | JobResult]:
        """Run (or resume) the caller's job: its progress after every batch, then its result.

        The problems and the guard are resolved in the caller's team; the datasets are pushed
        there. Closing the iteration between batches (a client that went away) loses nothing:
        the finished batches are in the checkpoint, and the same job resumes from there."""
        with RegistryClient(self.registry_address, token) as registry, \
                VerifierClient(self.verifier_address, token) as verifier:
            try:
                problems_manifest = _resolve(registry, config.problems, "problems")
                problems = registry.read_rows(problems_manifest.ref)
                guard, guard_refs = self._guard(config, registry)
                if problems_manifest.ref.split("@")[0] in {ref.split("@")[0] for ref in guard_refs}:
                    raise EvaluationProblems(
                        f"problems: {problems_manifest.ref} is an evaluation set in contamination_guard; every "
                        "problem would be refused (teach from another set, or --no-guard if it is not evaluated on)")

                def push(name: str, path: Path, parents: list[str], lineage_config: dict, meta: dict,
                         kind: str = "dataset") -> str:
                    return registry.push_file(header(name, kind, parents=parents, meta=meta, share=config.share,
                                                     stage="teacher", config=lineage_config), path).ref

                yield from run_job(config, problems_manifest.ref, problems, backend, verifier.verify_many, push,
                                   self.work_dir / token_scope(token), guard=guard,
                                   # the guard's exact versions: in the lineage next to problems_resolved,
                                   # and in the job's identity (a new version of one is a new job)
                                   lineage={"contamination_guard_resolved": guard_refs})
            except grpc.RpcError as exc:  # the registry or verifier refused: its verdict stands
                raise ServiceRefused(exc) from None

    # ------------------------------------------------------------ inline generation

    def generate(self, config: TeacherJobConfig, token: str | None, backend: TeacherBackend,
                 problems: list[dict]) -> Iterator[InlineThought]:
        """Thoughts for ``problems`` (rows of a `problems` dataset), unverified; the job's guard
        refuses them all if one is an evaluation question, before anything is generated."""
        with RegistryClient(self.registry_address, token) as registry:
            try:
                guard, _ = self._guard(config, registry)
            except grpc.RpcError as exc:
                raise ServiceRefused(exc) from None
        for index, problem in enumerate(problems):
            match = guard.match(problem["question"]) if guard else None
            if match:  # inline problems get the same guard as a job's: nothing is generated for them
                raise EvaluationProblems(f"problems[{index}]: the question {match.describe()}; "
                                         "the contamination guard refuses evaluation questions")
        for problem in problems:
            requests = [GenerationRequest(problem, t, config.samples) for t in config.thought_types]
            for request, generation in zip(requests, backend.generate(requests, config.sampling)):
                if generation.failed:  # say so instead of streaming nothing
                    raise GenerationFailed(generation.errors[0] if generation.errors else "generation failed")
                for index, text in enumerate(generation.texts):
                    yield InlineThought(problem["id"], request.thought_type, index, text)

    # ------------------------------------------------------------ the contamination guard

    def _guard(self, config: TeacherJobConfig,
               registry: RegistryClient) -> tuple[ContaminationGuard | None, list[str]]:
        """The job's contamination guard and the refs it was built from (None, [] when it is off):
        each dataset resolved in the caller's team with the caller's token, on every job."""
        if not config.contamination_guard:
            return None, []
        manifests = {}
        for name in config.contamination_guard:
            try:
                manifests[name] = _resolve(registry, name, "contamination_guard")
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    raise GuardDatasetMissing(name) from None
                raise
        refs = [m.ref for m in manifests.values()]
        key = tuple(refs)
        with self._guards_lock:
            if key in self._guards:
                self._guards.move_to_end(key)
                return self._guards[key], refs
        guard = ContaminationGuard.build({name: [(str(row["id"]), row["question"])
                                                 for row in registry.read_rows(manifest.ref)]
                                          for name, manifest in manifests.items()})
        with self._guards_lock:
            self._guards[key] = guard
            while len(self._guards) > GUARD_CACHE_SIZE:
                self._guards.popitem(last=False)
        return guard, refs


def _resolve(registry: RegistryClient, ref: str, field: str):
    """``ref``'s `problems` manifest in the caller's team; a refusal stays a ``grpc.RpcError``."""
    try:
        return registry.resolve(ref, kind="problems", field=field)
    except WrongKind as exc:  # a dataset or a model where problems belong
        raise BadJob(str(exc)) from None


def token_scope(token: str | None) -> str:
    """Jobs of different callers never share checkpoints."""
    from distillery.core.auth import hash_token

    return hash_token(token or "")[:16]
