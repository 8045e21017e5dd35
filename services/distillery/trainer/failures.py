"""Why a training run the service accepted then failed: the machine's fault, or the job's own. Pure.

What the job manager catches is whatever ``TorchTrainer.fit()`` raised: Ray Train's
``WorkerGroupError`` holding each failed rank's exception (the training function's own, e.g.
the core's ``ValueError`` when no row is usable), a ``ControllerError``, or Ray's system errors
(a worker or node that died, a health check that timed out). :func:`failure_kind` looks through
every wrapper to the causes and names the kind, so that a caller -- the jobs controller's train
stage -- retries only what another attempt could mend:

* ``OUT_OF_MEMORY``: a step did not fit at the job's batch size (the core's TrainingOutOfMemory,
  torch's OOM, Ray's OOM killer). The same job fails the same way: lower ``--batch-tokens``.
* ``BAD_INPUT``: the dataset or config (a bad row, nothing to train on, a config the cluster can
  never place, a reference the registry refuses). The same job fails the same way.
* ``INFRASTRUCTURE``: a worker, node, connection or service went away; the same job may succeed
  (and resumes from its last checkpoint).
* ``UNSPECIFIED``: not told apart (or not failed). Callers treat it as the infrastructure's.

When causes disagree (a rank that raised ValueError breaks its peers' collectives with connection
errors), the job's own fault wins: retrying cannot mend it.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import ray.exceptions

from distillery.trainer.job_records import FailureKind
from distillery.trainer.memory import TrainingOutOfMemory, is_out_of_memory
from distillery.trainer.run import killed_for_memory


# Python errors of the input: a bad value, a missing key, a wrong type (as jobs/failures.py counts them).
INPUT_ERRORS = (ValueError, LookupError, TypeError)
# Status codes that say a request is wrong (the registry refusing a worker's pull or the registration).
REFUSED_CODES = frozenset({grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                           grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
                           grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE})
# Ray Train's own errors that only carry others (looked through, never a cause themselves).
WRAPPERS = ("TrainingFailedError", "WorkerGroupError", "ControllerError", "UserExceptionWithTraceback")
# Ray Train's error for a ScalingConfig no node of the cluster can ever satisfy: the job's config.
UNPLACEABLE = ("InsufficientClusterResourcesError",)


def failure_kind(error: BaseException) -> FailureKind:
    causes = list(causes_of(error))
    if any(_out_of_memory(cause) for cause in causes):
        return FailureKind.OUT_OF_MEMORY
    if any(_bad_input(cause) for cause in causes):
        return FailureKind.BAD_INPUT
    if any(_infrastructure(cause) for cause in causes):
        return FailureKind.INFRASTRUCTURE
    return FailureKind.UNSPECIFIED


def causes_of(error: BaseException) -> Iterator[BaseException]:
    """``error`` and everything it carries: chained exceptions, Ray Train's per-rank failures, the
    controller's failure, the user exception inside Ray's wrappers. Each once."""
    pending, seen = [error], set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__,
                    getattr(current, "controller_failure", None), getattr(current, "_base_exc", None),
                    getattr(current, "health_check_failure", None)]
        if isinstance(current, ray.exceptions.RayTaskError):
            pending.append(current.cause)
        pending += list((getattr(current, "worker_failures", None) or {}).values())


def _names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


def _out_of_memory(error: BaseException) -> bool:
    return isinstance(error, TrainingOutOfMemory) or is_out_of_memory(error) or killed_for_memory(error)


def _bad_input(error: BaseException) -> bool:
    if isinstance(error, grpc.RpcError) and callable(getattr(error, "code", None)):
        return error.code() in REFUSED_CODES
    return isinstance(error, INPUT_ERRORS) or bool(_names(error) & set(UNPLACEABLE))


def _infrastructure(error: BaseException) -> bool:
    if isinstance(error, grpc.RpcError) and callable(getattr(error, "code", None)):
        return error.code() not in REFUSED_CODES
    names = _names(error)
    if names & set(WRAPPERS):
        return False
    ray_system = isinstance(error, ray.exceptions.RayError) and not isinstance(error, ray.exceptions.RayTaskError)
    return ray_system or "RayTrainError" in names or isinstance(error, OSError)
