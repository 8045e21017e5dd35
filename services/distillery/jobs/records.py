"""What the controller keeps of a job: typed records, stored as JSON in the object store. Pure.

A stage's request, its driver's report and its result are the protobuf messages of
``jobs.proto``; the rest are plain fields. ``from_dict`` reads records of older versions too
(a missing field takes its default), so a controller upgraded mid-job carries on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.message import Message

from distillery.v1 import jobs_pb2 as pb

ACTIVE = ("queued", "running")
DONE_STAGES = ("succeeded", "reused")
MAX_EVENTS = 200
# Record fields that hold protobuf messages, and their types.
MESSAGES = {"request": pb.StageRequest, "report": pb.StageRunReport, "result": pb.StageResult}


@dataclass
class StageRecord:
    name: str  # teacher, train, eval-base, eval, serve
    state: str = "pending"  # pending, running, succeeded, reused, failed, cancelled
    attempts: int = 0
    run_id: str = ""  # of the last attempt: the Ray job submission id / RayJob name
    key: str = ""  # hash of the stage's inputs: equal keys reuse the result
    request: pb.StageRequest | None = None  # of the last attempt, its run id filled in
    report: pb.StageRunReport | None = None  # what the last attempt's driver reported
    result: pb.StageResult | None = None  # what it made, as its service answered
    outputs: dict[str, str] = field(default_factory=dict)  # dataset / model / url
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def done(self) -> bool:
        return self.state in DONE_STAGES


@dataclass
class Event:
    at: float
    message: str


@dataclass
class JobRecord:
    id: str
    team: str
    name: str
    spec: dict  # the validated spec, as JSON
    problems: str  # the pinned problems dataset, TEAM/NAME@V
    backend: str
    token: str = field(repr=False)  # the team's token, sealed (Fernet): never shown
    stages: list[StageRecord] = field(default_factory=list)
    state: str = "queued"  # queued, running, succeeded, failed, cancelled
    cancel_requested: bool = False
    error: str = ""
    created_at: float = 0.0
    updated_at: float = 0.0
    version: int = 0  # bumped on every change; watchers wait for a newer one
    events: list[Event] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def stage(self, name: str) -> StageRecord:
        return next(s for s in self.stages if s.name == name)

    def to_dict(self) -> dict:
        return {**{f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("stages", "events")},
                "stages": [_stage_dict(s) for s in self.stages],
                "events": [dataclasses.asdict(e) for e in self.events]}

    @classmethod
    def from_dict(cls, data: dict) -> JobRecord:
        known = {f.name for f in dataclasses.fields(cls)} - {"stages", "events"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   stages=[_stage_from_dict(s) for s in data.get("stages", [])],
                   events=[Event(**e) for e in data.get("events", [])])

    def public_copy(self) -> JobRecord:
        """What callers see: a snapshot, without the sealed token."""
        copy = JobRecord.from_dict(self.to_dict())
        copy.token = ""
        return copy


def _stage_dict(stage: StageRecord) -> dict:
    data = {f.name: getattr(stage, f.name) for f in dataclasses.fields(stage)}
    for name in MESSAGES:
        message: Message | None = data[name]
        data[name] = None if message is None else json_format.MessageToDict(message, preserving_proto_field_name=True)
    return data


def _stage_from_dict(data: dict) -> StageRecord:
    known = {f.name for f in dataclasses.fields(StageRecord)}
    values = {k: v for k, v in data.items() if k in known}
    for name, message_class in MESSAGES.items():
        values[name] = json_format.ParseDict(values[name], message_class()) if values.get(name) else None
    return StageRecord(**values)
