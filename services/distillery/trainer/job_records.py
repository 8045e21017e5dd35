"""What the trainer service keeps of a job, and the JSON it is stored as. Pure.

A record is the job's view (state, metrics, workers, checkpoint, model or error and its kind) and its
pinned config; never the caller's token, nor anything live (the monitor, watchers' versions).
``from_record`` reads records of older versions too: a missing field takes its default.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from enum import StrEnum

from distillery.trainer.trainer_config import TrainerConfig

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
ACTIVE = (QUEUED, RUNNING)
TERMINAL = (SUCCEEDED, FAILED, CANCELLED)


class FailureKind(StrEnum):
    """Why a FAILED job failed (:mod:`distillery.trainer.failures` tells them apart): whether the
    same job could succeed if submitted again."""

    UNSPECIFIED = ""  # not failed, or not told apart: callers treat it as the infrastructure's
    INFRASTRUCTURE = "infrastructure"  # a worker, node, connection or service went away
    BAD_INPUT = "bad_input"  # the dataset or the config: the same job fails the same way
    OUT_OF_MEMORY = "out_of_memory"  # a step did not fit at the job's batch size


@dataclass
class TrainingJob:
    id: str
    team: str
    config: TrainerConfig
    token: str = field(repr=False)
    share: bool = False
    run: str = ""
    state: str = QUEUED
    metrics: dict = field(default_factory=dict)
    workers: dict[int, dict] = field(default_factory=dict)
    restarts: int = 0
    resumed_from: int = 0
    last_checkpoint: int = 0
    model: str = ""
    error: str = ""
    failure_kind: FailureKind = FailureKind.UNSPECIFIED  # a FAILED job's: whether the same job could succeed
    created_at: float = field(default_factory=time.time)
    finished_at: float = 0.0
    events_seen: int = 0
    version: int = 0  # bumped on every change; watchers wait for a newer one
    cancel_requested: bool = False
    monitor: object = field(default=None, repr=False)


# Live state and credentials: not part of what is stored.
_NOT_STORED = ("token", "events_seen", "version", "monitor")


def to_record(job: TrainingJob) -> dict:
    record = {f.name: getattr(job, f.name) for f in dataclasses.fields(job) if f.name not in _NOT_STORED}
    record["config"] = job.config.model_dump(mode="json")
    record["workers"] = list(job.workers.values())  # JSON keys are strings; each worker names its rank
    return record


def from_record(record: dict) -> TrainingJob:
    known = {f.name for f in dataclasses.fields(TrainingJob)} - set(_NOT_STORED)
    values = {name: value for name, value in record.items() if name in known}
    values["config"] = TrainerConfig(**record["config"])
    values["workers"] = {int(worker["rank"]): worker for worker in record.get("workers", [])}
    values["failure_kind"] = _kind(record.get("failure_kind", ""))
    return TrainingJob(token="", **values)


def interrupted(job: TrainingJob, now: float) -> TrainingJob:
    """A job the service was running (or had queued) when it stopped: failed, saying how to go on."""
    where = f"its last checkpoint (step {job.last_checkpoint})" if job.last_checkpoint else "the start"
    return dataclasses.replace(job, state=FAILED, finished_at=now, failure_kind=FailureKind.INFRASTRUCTURE,
                               error=f"the trainer service stopped while this job was {job.state}: submit the same "
                                     f"job again to resume from {where}")


def _kind(stored: str) -> FailureKind:
    """A stored kind; one this version does not know (a newer service's) reads as unspecified."""
    try:
        return FailureKind(stored)
    except ValueError:
        return FailureKind.UNSPECIFIED
