"""The teacher's expected failures and the gRPC status each is answered with: in one place.

The teacher's own code (:mod:`.running`, :mod:`.pools`, :mod:`.job`, the backend factory) raises
these; the servicer only translates (``answered_as_status``). A caller's unknown token is the
registry's :class:`~distillery.registry.principals.UnknownToken` (UNAUTHENTICATED); an invalid
job config is pydantic's ``ValidationError`` (INVALID_ARGUMENT, each field named).
"""

from __future__ import annotations

import grpc

from distillery.core.service_errors import ServiceError, ServiceRefused  # noqa: F401 -- the teacher's too


class BadJob(ServiceError, ValueError):
    """A request whose fields contradict each other, or a reference of the wrong kind (a dataset
    for ``problems``) or that may not be used here (a path for ``model``); the message names the field."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class UnknownPool(BadJob):
    """No such pool, a model the pool does not serve, or a key where the pool uses the operator's."""


class EvaluationProblems(BadJob):
    """The problems are evaluation questions: a set in the job's contamination guard, or an inline
    question the guard matches. Nothing is generated for them."""


class EndpointRefused(ServiceError):
    """The operator's policy does not allow this endpoint (or pool) for this caller.

    Not an OSError on purpose: raised inside a connection, urllib must not wrap it as one."""

    code = grpc.StatusCode.PERMISSION_DENIED


class BackendUnavailable(ServiceError, ValueError):
    """The backend cannot be built here: no model given, its extra not installed, an unknown name."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class GuardDatasetMissing(ServiceError):
    """A dataset of the job's contamination guard is not in the caller's team."""

    code = grpc.StatusCode.FAILED_PRECONDITION

    def __init__(self, name: str) -> None:
        super().__init__(missing_guard_dataset(name))
        self.name = name


class GenerationFailed(ServiceError, RuntimeError):
    """The teacher could not generate (the endpoint refused or is down); nothing of it was kept."""

    code = grpc.StatusCode.UNAVAILABLE


def missing_guard_dataset(name: str) -> str:
    """Why a job stops when a dataset of its contamination guard is not in the caller's team."""
    from distillery.registry.benchmarks import BENCHMARKS

    how = (f"import it with `distillery registry import-benchmarks --only {name}`" if name in BENCHMARKS
           else "push it with `distillery registry push --kind problems`")
    return (f"contamination_guard: no `problems` dataset {name!r} in your team; {how}, or set "
            "contamination_guard to [] (teacher generate --no-guard) to turn the guard off")
