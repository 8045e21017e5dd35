"""A failed training run classified from what the job manager catches: the errors Ray Train
raises from ``fit()`` (its own exception types, holding each rank's exception), Ray's system
errors, the core's own. Pure; the record keeps the kind across a restart of the service."""

from __future__ import annotations

import json

import grpc
import pytest
import ray.exceptions
from ray.train.v2._internal.exceptions import (InsufficientClusterResourcesError, WorkerGroupStartupTimeoutError,
                                               WorkerHealthCheckFailedError)
from ray.train.v2.api.exceptions import ControllerError, WorkerGroupError

from distillery.jobs.failures import training_retryable
from distillery.trainer.client import ended_without_model, failure_kind as kind_of
from distillery.trainer.data import InvalidRow
from distillery.trainer.failures import failure_kind
from distillery.trainer.job_records import FailureKind, TrainingJob, from_record, interrupted, to_record
from distillery.trainer.memory import TrainingOutOfMemory
from distillery.trainer.trainer_config import TrainerConfig
from distillery.v1 import trainer_pb2 as pb


class Refused(grpc.RpcError):
    """What a stub raises for a refused call (the registry, from a worker): a code and details."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


def workers(*errors: BaseException) -> WorkerGroupError:
    """What ``TorchTrainer.fit()`` raises when ranks failed: each rank's own exception."""
    return WorkerGroupError("rank failures", dict(enumerate(errors)))


@pytest.mark.parametrize("error, kind", [
    # The job's own input: the same job fails the same way.
    (workers(ValueError("worker 0 has no training examples")), FailureKind.BAD_INPUT),
    (workers(InvalidRow("line 3: not JSON")), FailureKind.BAD_INPUT),
    (workers(KeyError("question")), FailureKind.BAD_INPUT),
    (workers(Refused(grpc.StatusCode.PERMISSION_DENIED)), FailureKind.BAD_INPUT),
    (ControllerError(InsufficientClusterResourcesError("8 workers, 2 CPUs")), FailureKind.BAD_INPUT),
    # A rank's bad input breaks its peer's collective: the input is still the cause.
    (workers(ValueError("no training examples"), RuntimeError("Connection closed by peer")), FailureKind.BAD_INPUT),
    # A step that did not fit, however Ray reports it.
    (workers(TrainingOutOfMemory("out of memory at 8192 tokens per batch")), FailureKind.OUT_OF_MEMORY),
    (workers(ray.exceptions.OutOfMemoryError("Task was killed due to the node running low on memory")),
     FailureKind.OUT_OF_MEMORY),
    (workers(RuntimeError("The worker died unexpectedly: the node was running low on memory")),
     FailureKind.OUT_OF_MEMORY),
    # The machine's: another attempt may succeed.
    (workers(WorkerHealthCheckFailedError("worker 1 died", ray.exceptions.ActorDiedError())),
     FailureKind.INFRASTRUCTURE),
    (workers(ray.exceptions.NodeDiedError("node lost")), FailureKind.INFRASTRUCTURE),
    (ControllerError(WorkerGroupStartupTimeoutError(2)), FailureKind.INFRASTRUCTURE),
    (workers(ConnectionResetError("registry went away")), FailureKind.INFRASTRUCTURE),
    (workers(Refused(grpc.StatusCode.UNAVAILABLE)), FailureKind.INFRASTRUCTURE),
    (OSError("s3: connection refused"), FailureKind.INFRASTRUCTURE),
    # Nothing to tell it by: left unspecified (callers retry it).
    (workers(RuntimeError("boom")), FailureKind.UNSPECIFIED),
    (RuntimeError("training finished without a checkpoint"), FailureKind.UNSPECIFIED),
])
def test_a_failed_run_is_classified_by_what_caused_it_inside_rays_wrappers(error, kind):
    assert failure_kind(error) is kind


def test_a_chained_cause_counts_and_only_the_jobs_own_faults_are_final():
    try:
        try:
            raise InvalidRow("line 7: missing or non-string field(s) text")
        except InvalidRow as inner:
            raise RuntimeError("training function failed") from inner
    except RuntimeError as outer:
        assert failure_kind(outer) is FailureKind.BAD_INPUT
    # The jobs controller reads the kind from the trainer's contract; one newer than it is retried.
    kinds = [pb.FailureKind.Value(f"FAILURE_KIND_{kind.name}") for kind in FailureKind] + [99]
    assert [training_retryable(kind) for kind in kinds] == [True, True, False, False, True]


def test_the_kind_is_kept_in_the_record_and_old_records_load_without_one():
    job = TrainingJob(id="train-1", team="t", config=TrainerConfig(dataset="t/d@1", out="m"), token="secret",
                      state="failed", error="worker 0 has no training examples", failure_kind=FailureKind.BAD_INPUT)
    stored = json.loads(json.dumps(to_record(job)))
    assert stored["failure_kind"] == "bad_input" and from_record(stored).failure_kind is FailureKind.BAD_INPUT
    older = {name: value for name, value in stored.items() if name != "failure_kind"}
    assert from_record(older).failure_kind is FailureKind.UNSPECIFIED
    assert from_record({**stored, "failure_kind": "of_a_later_version"}).failure_kind is FailureKind.UNSPECIFIED
    # A job the service was running when it stopped: the machine's fault, resumable.
    running = TrainingJob(id="train-2", team="t", config=job.config, token="", state="running")
    assert interrupted(running, 0.0).failure_kind is FailureKind.INFRASTRUCTURE


def test_a_job_that_ended_without_a_model_says_how_in_one_line():
    failed = pb.TrainJob(id="train-1", state=pb.JOB_STATE_FAILED, error="worker 0 has no training examples",
                         failure_kind=pb.FAILURE_KIND_BAD_INPUT)
    assert kind_of(failed) is FailureKind.BAD_INPUT
    assert ended_without_model(failed) == "trainer: job train-1 failed (bad input): worker 0 has no training examples"
    unknown = pb.TrainJob(id="train-2", state=pb.JOB_STATE_FAILED, error="boom", failure_kind=99)  # a newer kind
    assert kind_of(unknown) is FailureKind.UNSPECIFIED and ended_without_model(unknown) == \
        "trainer: job train-2 failed: boom"
