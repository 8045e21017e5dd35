from distillery.v1 import trainer_config_pb2 as _trainer_config_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]

class FailureKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_KIND_UNSPECIFIED: _ClassVar[FailureKind]
    FAILURE_KIND_INFRASTRUCTURE: _ClassVar[FailureKind]
    FAILURE_KIND_BAD_INPUT: _ClassVar[FailureKind]
    FAILURE_KIND_OUT_OF_MEMORY: _ClassVar[FailureKind]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState
FAILURE_KIND_UNSPECIFIED: FailureKind
FAILURE_KIND_INFRASTRUCTURE: FailureKind
FAILURE_KIND_BAD_INPUT: FailureKind
FAILURE_KIND_OUT_OF_MEMORY: FailureKind

class SubmitJobRequest(_message.Message):
    __slots__ = ("config", "share")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    config: _trainer_config_pb2.TrainerConfig
    share: bool
    def __init__(self, config: _Optional[_Union[_trainer_config_pb2.TrainerConfig, _Mapping]] = ..., share: _Optional[bool] = ...) -> None: ...

class JobRef(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[TrainJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[TrainJob, _Mapping]]] = ...) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("rank", "pid", "node", "resumed_from_step")
    RANK_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    rank: int
    pid: int
    node: str
    resumed_from_step: int
    def __init__(self, rank: _Optional[int] = ..., pid: _Optional[int] = ..., node: _Optional[str] = ..., resumed_from_step: _Optional[int] = ...) -> None: ...

class TrainMetrics(_message.Message):
    __slots__ = ("step", "total_steps", "epoch", "loss", "first_loss", "learning_rate", "tokens_per_s", "tokens_per_s_per_worker", "padding_waste", "examples_per_worker", "batch_tokens", "batch_tokens_source", "memory_gib")
    STEP_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    FIRST_LOSS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_PER_WORKER_FIELD_NUMBER: _ClassVar[int]
    PADDING_WASTE_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_PER_WORKER_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOKENS_SOURCE_FIELD_NUMBER: _ClassVar[int]
    MEMORY_GIB_FIELD_NUMBER: _ClassVar[int]
    step: int
    total_steps: int
    epoch: float
    loss: float
    first_loss: float
    learning_rate: float
    tokens_per_s: float
    tokens_per_s_per_worker: float
    padding_waste: float
    examples_per_worker: int
    batch_tokens: int
    batch_tokens_source: str
    memory_gib: float
    def __init__(self, step: _Optional[int] = ..., total_steps: _Optional[int] = ..., epoch: _Optional[float] = ..., loss: _Optional[float] = ..., first_loss: _Optional[float] = ..., learning_rate: _Optional[float] = ..., tokens_per_s: _Optional[float] = ..., tokens_per_s_per_worker: _Optional[float] = ..., padding_waste: _Optional[float] = ..., examples_per_worker: _Optional[int] = ..., batch_tokens: _Optional[int] = ..., batch_tokens_source: _Optional[str] = ..., memory_gib: _Optional[float] = ...) -> None: ...

class TrainJob(_message.Message):
    __slots__ = ("id", "team", "state", "config", "run", "metrics", "last_checkpoint_step", "resumed_from_step", "restarts", "workers", "model", "error", "failure_kind", "created_at", "finished_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RUN_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_STEP_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_STEP_FIELD_NUMBER: _ClassVar[int]
    RESTARTS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURE_KIND_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    team: str
    state: JobState
    config: _trainer_config_pb2.TrainerConfig
    run: str
    metrics: TrainMetrics
    last_checkpoint_step: int
    resumed_from_step: int
    restarts: int
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    model: str
    error: str
    failure_kind: FailureKind
    created_at: float
    finished_at: float
    def __init__(self, id: _Optional[str] = ..., team: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., config: _Optional[_Union[_trainer_config_pb2.TrainerConfig, _Mapping]] = ..., run: _Optional[str] = ..., metrics: _Optional[_Union[TrainMetrics, _Mapping]] = ..., last_checkpoint_step: _Optional[int] = ..., resumed_from_step: _Optional[int] = ..., restarts: _Optional[int] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., model: _Optional[str] = ..., error: _Optional[str] = ..., failure_kind: _Optional[_Union[FailureKind, str]] = ..., created_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...
