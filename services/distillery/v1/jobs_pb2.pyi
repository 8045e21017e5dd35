from distillery.v1 import teacher_pb2 as _teacher_pb2
from distillery.v1 import trainer_pb2 as _trainer_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StageRequest(_message.Message):
    __slots__ = ("run_id", "teacher", "train", "eval", "serve")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    TEACHER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    SERVE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    teacher: _teacher_pb2.TeacherJob
    train: _trainer_pb2.SubmitJobRequest
    eval: EvalStage
    serve: ServeStage
    def __init__(self, run_id: _Optional[str] = ..., teacher: _Optional[_Union[_teacher_pb2.TeacherJob, _Mapping]] = ..., train: _Optional[_Union[_trainer_pb2.SubmitJobRequest, _Mapping]] = ..., eval: _Optional[_Union[EvalStage, _Mapping]] = ..., serve: _Optional[_Union[ServeStage, _Mapping]] = ...) -> None: ...

class EvalStage(_message.Message):
    __slots__ = ("model", "benchmarks", "methods", "limit", "backend", "max_new_tokens", "out", "samples", "temperature", "seed")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BENCHMARKS_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MAX_NEW_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    model: str
    benchmarks: _containers.RepeatedScalarFieldContainer[str]
    methods: _containers.RepeatedScalarFieldContainer[str]
    limit: int
    backend: str
    max_new_tokens: int
    out: str
    samples: int
    temperature: float
    seed: int
    def __init__(self, model: _Optional[str] = ..., benchmarks: _Optional[_Iterable[str]] = ..., methods: _Optional[_Iterable[str]] = ..., limit: _Optional[int] = ..., backend: _Optional[str] = ..., max_new_tokens: _Optional[int] = ..., out: _Optional[str] = ..., samples: _Optional[int] = ..., temperature: _Optional[float] = ..., seed: _Optional[int] = ...) -> None: ...

class ServeStage(_message.Message):
    __slots__ = ("model", "name", "min_replicas", "max_replicas", "backend", "http_port", "grpc_port")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    MAX_REPLICAS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    HTTP_PORT_FIELD_NUMBER: _ClassVar[int]
    GRPC_PORT_FIELD_NUMBER: _ClassVar[int]
    model: str
    name: str
    min_replicas: int
    max_replicas: int
    backend: str
    http_port: int
    grpc_port: int
    def __init__(self, model: _Optional[str] = ..., name: _Optional[str] = ..., min_replicas: _Optional[int] = ..., max_replicas: _Optional[int] = ..., backend: _Optional[str] = ..., http_port: _Optional[int] = ..., grpc_port: _Optional[int] = ...) -> None: ...

class StageResult(_message.Message):
    __slots__ = ("teacher", "train", "eval", "serve")
    TEACHER_FIELD_NUMBER: _ClassVar[int]
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    EVAL_FIELD_NUMBER: _ClassVar[int]
    SERVE_FIELD_NUMBER: _ClassVar[int]
    teacher: _teacher_pb2.TeacherJobEvent
    train: _trainer_pb2.TrainJob
    eval: EvalStageResult
    serve: ServeStageResult
    def __init__(self, teacher: _Optional[_Union[_teacher_pb2.TeacherJobEvent, _Mapping]] = ..., train: _Optional[_Union[_trainer_pb2.TrainJob, _Mapping]] = ..., eval: _Optional[_Union[EvalStageResult, _Mapping]] = ..., serve: _Optional[_Union[ServeStageResult, _Mapping]] = ...) -> None: ...

class EvalScore(_message.Message):
    __slots__ = ("benchmark", "method", "correct", "total", "accuracy")
    BENCHMARK_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    benchmark: str
    method: str
    correct: int
    total: int
    accuracy: float
    def __init__(self, benchmark: _Optional[str] = ..., method: _Optional[str] = ..., correct: _Optional[int] = ..., total: _Optional[int] = ..., accuracy: _Optional[float] = ...) -> None: ...

class EvalStageResult(_message.Message):
    __slots__ = ("model", "dataset", "results")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    model: str
    dataset: str
    results: _containers.RepeatedCompositeFieldContainer[EvalScore]
    def __init__(self, model: _Optional[str] = ..., dataset: _Optional[str] = ..., results: _Optional[_Iterable[_Union[EvalScore, _Mapping]]] = ...) -> None: ...

class ServeStageResult(_message.Message):
    __slots__ = ("name", "model", "url", "grpc")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    GRPC_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    url: str
    grpc: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., url: _Optional[str] = ..., grpc: _Optional[str] = ...) -> None: ...

class StageRunRef(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class StageRunReport(_message.Message):
    __slots__ = ("run_id", "result", "error", "retryable")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RETRYABLE_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    result: StageResult
    error: str
    retryable: bool
    def __init__(self, run_id: _Optional[str] = ..., result: _Optional[_Union[StageResult, _Mapping]] = ..., error: _Optional[str] = ..., retryable: _Optional[bool] = ...) -> None: ...

class StageRunAck(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SubmitDistillJobRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: str
    def __init__(self, spec: _Optional[str] = ...) -> None: ...

class JobRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListDistillJobsRequest(_message.Message):
    __slots__ = ("all_teams",)
    ALL_TEAMS_FIELD_NUMBER: _ClassVar[int]
    all_teams: bool
    def __init__(self, all_teams: _Optional[bool] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("name", "state", "attempts", "run_id", "key", "outputs", "result", "error", "started_at", "finished_at")
    class OutputsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    attempts: int
    run_id: str
    key: str
    outputs: _containers.ScalarMap[str, str]
    result: StageResult
    error: str
    started_at: float
    finished_at: float
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[int] = ..., run_id: _Optional[str] = ..., key: _Optional[str] = ..., outputs: _Optional[_Mapping[str, str]] = ..., result: _Optional[_Union[StageResult, _Mapping]] = ..., error: _Optional[str] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class DistillJob(_message.Message):
    __slots__ = ("id", "team", "name", "state", "stages", "problems", "error", "created_at", "updated_at", "spec", "backend")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    id: str
    team: str
    name: str
    state: str
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    problems: str
    error: str
    created_at: float
    updated_at: float
    spec: str
    backend: str
    def __init__(self, id: _Optional[str] = ..., team: _Optional[str] = ..., name: _Optional[str] = ..., state: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., problems: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[float] = ..., updated_at: _Optional[float] = ..., spec: _Optional[str] = ..., backend: _Optional[str] = ...) -> None: ...

class ListDistillJobsResponse(_message.Message):
    __slots__ = ("jobs",)
    JOBS_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[DistillJob]
    def __init__(self, jobs: _Optional[_Iterable[_Union[DistillJob, _Mapping]]] = ...) -> None: ...

class DistillJobEvent(_message.Message):
    __slots__ = ("job", "message")
    JOB_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    job: DistillJob
    message: str
    def __init__(self, job: _Optional[_Union[DistillJob, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("id", "stage")
    ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    id: str
    stage: str
    def __init__(self, id: _Optional[str] = ..., stage: _Optional[str] = ...) -> None: ...

class Logs(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...
