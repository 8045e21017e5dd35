"""Every registry reference a job spec makes, checked at submit with the caller's token.

A job whose dataset or model does not exist (or that the team may not read) can never succeed:
it is refused when submitted, naming the spec field (``student.base: no model 'nope' for team
alpha``), instead of failing stage after stage. :func:`spec_references` is pure: what to look
up; :func:`check_references` asks the registry (a client holding the caller's token).

Not checked here: ``teacher.pool`` (the teacher service alone knows its operator's pools; a pool
it does not know fails the teacher stage at once, without retries) and aliases (built in).
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

LOCAL_ENGINES = ("hf", "vllm")  # teacher backends that load `teacher.model` from the registry


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
    if teacher.backend in LOCAL_ENGINES and teacher.model and teacher.model not in ALIASES:
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
