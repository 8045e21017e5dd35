"""Every reference a job spec makes, checked at submit with the caller's token.

A job whose dataset or model does not exist (or that the team may not read), or whose teacher
pool the team may not use, can never succeed: it is refused when submitted, naming the spec
field (``student.base: no model 'nope' for team alpha``), instead of failing stage after stage.

Registry references: :func:`spec_references` is pure (what to look up); :func:`check_references`
asks the registry (a client holding the caller's token). ``teacher.pool``: only the teacher
service knows its operator's pools, so :func:`check_teacher_pool` asks it which ones the
caller's team may use (``ListPools``, with the caller's token) and :func:`pool_refusal` (pure)
checks the spec's pool and model against that list. Aliases are built in: never looked up.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from distillery.core.service_errors import ServiceError, ServiceRefused
from distillery.evaluation.harness import BENCHMARK_DATASETS
from distillery.jobs.errors import InvalidJob, ReferenceDenied, ReferenceNotFound
from distillery.jobs.spec import JobSpec
from distillery.registry.client import KIND_NOUNS, KINDS, WrongKind
from distillery.student.models import ALIASES
from distillery.teacher.config import LOCAL_BACKENDS, available_pools
from distillery.v1 import teacher_pb2

LIST_POOLS_TIMEOUT_S = 10.0  # a submit waits this long for the teacher's answer, then fails UNAVAILABLE


@dataclass(frozen=True)
class Reference:
    field: str  # the spec's path to it: "student.base", "evaluation.benchmarks[1]"
    ref: str  # as the spec gives it: [TEAM/]NAME[@VERSION|@TAG]
    kind: str  # "problems" or "model"


def spec_references(spec: JobSpec) -> list[Reference]:
    """What the spec names in the registry, field by field (aliases left out). Pure."""
    refs = [Reference("problems.dataset", spec.problems.dataset, "problems")]
    if spec.student.base not in ALIASES:
        refs.append(Reference("student.base", spec.student.base, "model"))
    teacher = spec.teacher
    if teacher.backend in LOCAL_BACKENDS and teacher.model and teacher.model not in ALIASES:
        refs.append(Reference("teacher.model", teacher.model, "model"))
    refs += [Reference(f"teacher.contamination_guard[{i}]", name, "problems")
             for i, name in enumerate(teacher.contamination_guard)]
    if spec.evaluation.enabled:
        refs += [Reference(f"evaluation.benchmarks[{i}]", BENCHMARK_DATASETS[name], "problems")
                 for i, name in enumerate(spec.evaluation.benchmarks)]
    return refs


def check_references(registry, team: str, refs: list[Reference]) -> dict[str, str]:
    """Each field's pinned reference (TEAM/NAME@VERSION); the first that does not resolve raises
    :class:`ReferenceNotFound`, :class:`ReferenceDenied` or :class:`InvalidJob`, naming its field."""
    pinned = {}
    for reference in refs:
        try:
            pinned[reference.field] = registry.resolve(reference.ref, kind=reference.kind,
                                                       field=reference.field).ref
        except WrongKind as exc:
            raise InvalidJob(str(exc)) from None
        except grpc.RpcError as exc:
            raise refusal(reference, team, exc) from None
    return pinned


def refusal(reference: Reference, team: str, exc: grpc.RpcError) -> ServiceError:
    """The registry's refusal of one reference, as the submit's answer: one line, its field first."""
    noun = KIND_NOUNS[KINDS[reference.kind]]
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:
        aliases = f", nor an alias ({', '.join(ALIASES)})" if reference.kind == "model" else ""
        return ReferenceNotFound(f"{reference.field}: no {noun} {reference.ref!r} for team {team}{aliases}: "
                                 f"{exc.details()}")
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return ReferenceDenied(f"{reference.field}: team {team} may not read {reference.ref!r}: {exc.details()}")
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidJob(f"{reference.field}: {exc.details()}")
    return ServiceRefused(exc, reference.field)  # the registry unreachable or failing: its code stands


def check_teacher_pool(teacher, team: str, spec: JobSpec) -> None:
    """Refuse the spec's ``teacher.pool`` (set) when the caller's team cannot use it, or a
    ``teacher.model`` it does not serve; ``teacher``: a TeacherClient holding the caller's token.
    A teacher that does not answer refuses the submit with its code (UNAVAILABLE: try again)."""
    try:
        offered = teacher.list_pools(timeout=LIST_POOLS_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise ServiceRefused(exc, "teacher.pool") from None
    refused = pool_refusal(spec.teacher.pool, spec.teacher.model, team, offered)
    if refused:
        raise refused


def pool_refusal(pool: str, model: str | None, team: str,
                 offered: teacher_pb2.ListPoolsResponse) -> ServiceError | None:
    """Why a job naming ``pool`` (and ``model``, None: the pool's first) cannot run for ``team``,
    given the pools the teacher offers that team; None when it can. Pure."""
    for info in offered.pools:
        if info.name == pool:
            if model and model not in info.models:
                return InvalidJob(f"teacher.model: pool {pool!r} serves {', '.join(info.models)}, not {model!r}")
            return None
    return ReferenceNotFound(f"teacher.pool: no teacher pool {pool!r} for team {team}; "
                             f"available: {available_pools(info.name for info in offered.pools)}")
