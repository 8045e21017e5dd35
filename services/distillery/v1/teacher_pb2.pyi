from distillery.v1 import teacher_config_pb2 as _teacher_config_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ListPoolsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TeacherPoolInfo(_message.Message):
    __slots__ = ("name", "models", "restricted")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    RESTRICTED_FIELD_NUMBER: _ClassVar[int]
    name: str
    models: _containers.RepeatedScalarFieldContainer[str]
    restricted: bool
    def __init__(self, name: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., restricted: _Optional[bool] = ...) -> None: ...

class ListPoolsResponse(_message.Message):
    __slots__ = ("pools", "team_endpoints")
    POOLS_FIELD_NUMBER: _ClassVar[int]
    TEAM_ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    pools: _containers.RepeatedCompositeFieldContainer[TeacherPoolInfo]
    team_endpoints: bool
    def __init__(self, pools: _Optional[_Iterable[_Union[TeacherPoolInfo, _Mapping]]] = ..., team_endpoints: _Optional[bool] = ...) -> None: ...

class TeacherJob(_message.Message):
    __slots__ = ("config", "endpoint_api_key")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_API_KEY_FIELD_NUMBER: _ClassVar[int]
    config: _teacher_config_pb2.TeacherJobConfig
    endpoint_api_key: str
    def __init__(self, config: _Optional[_Union[_teacher_config_pb2.TeacherJobConfig, _Mapping]] = ..., endpoint_api_key: _Optional[str] = ...) -> None: ...

class TeacherJobProgress(_message.Message):
    __slots__ = ("problems_total", "problems_done", "generated", "duplicates", "accepted", "rejected", "output_tokens", "tokens_per_s", "elapsed_s", "resumed_from", "variants_kept", "variants_dropped", "contaminated")
    class AcceptedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class RejectedEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    PROBLEMS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_DONE_FIELD_NUMBER: _ClassVar[int]
    GENERATED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_S_FIELD_NUMBER: _ClassVar[int]
    RESUMED_FROM_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_KEPT_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_DROPPED_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATED_FIELD_NUMBER: _ClassVar[int]
    problems_total: int
    problems_done: int
    generated: int
    duplicates: int
    accepted: _containers.ScalarMap[str, int]
    rejected: _containers.ScalarMap[str, int]
    output_tokens: int
    tokens_per_s: float
    elapsed_s: float
    resumed_from: int
    variants_kept: int
    variants_dropped: int
    contaminated: int
    def __init__(self, problems_total: _Optional[int] = ..., problems_done: _Optional[int] = ..., generated: _Optional[int] = ..., duplicates: _Optional[int] = ..., accepted: _Optional[_Mapping[str, int]] = ..., rejected: _Optional[_Mapping[str, int]] = ..., output_tokens: _Optional[int] = ..., tokens_per_s: _Optional[float] = ..., elapsed_s: _Optional[float] = ..., resumed_from: _Optional[int] = ..., variants_kept: _Optional[int] = ..., variants_dropped: _Optional[int] = ..., contaminated: _Optional[int] = ...) -> None: ...

class TeacherJobResult(_message.Message):
    __slots__ = ("dataset", "rejected", "yield_by_type", "variants")
    class YieldByTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DATASET_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    YIELD_BY_TYPE_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    dataset: str
    rejected: str
    yield_by_type: _containers.ScalarMap[str, float]
    variants: str
    def __init__(self, dataset: _Optional[str] = ..., rejected: _Optional[str] = ..., yield_by_type: _Optional[_Mapping[str, float]] = ..., variants: _Optional[str] = ...) -> None: ...

class TeacherJobEvent(_message.Message):
    __slots__ = ("progress", "result")
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    progress: TeacherJobProgress
    result: TeacherJobResult
    def __init__(self, progress: _Optional[_Union[TeacherJobProgress, _Mapping]] = ..., result: _Optional[_Union[TeacherJobResult, _Mapping]] = ...) -> None: ...

class Problem(_message.Message):
    __slots__ = ("id", "question", "answer", "rationale", "equation")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    EQUATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    question: str
    answer: float
    rationale: str
    equation: str
    def __init__(self, id: _Optional[str] = ..., question: _Optional[str] = ..., answer: _Optional[float] = ..., rationale: _Optional[str] = ..., equation: _Optional[str] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("problems", "generation", "endpoint_api_key")
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_API_KEY_FIELD_NUMBER: _ClassVar[int]
    problems: _containers.RepeatedCompositeFieldContainer[Problem]
    generation: _teacher_config_pb2.TeacherGeneration
    endpoint_api_key: str
    def __init__(self, problems: _Optional[_Iterable[_Union[Problem, _Mapping]]] = ..., generation: _Optional[_Union[_teacher_config_pb2.TeacherGeneration, _Mapping]] = ..., endpoint_api_key: _Optional[str] = ...) -> None: ...

class GeneratedThought(_message.Message):
    __slots__ = ("problem_id", "thought_type", "sample_index", "text")
    PROBLEM_ID_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPE_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_INDEX_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    problem_id: str
    thought_type: str
    sample_index: int
    text: str
    def __init__(self, problem_id: _Optional[str] = ..., thought_type: _Optional[str] = ..., sample_index: _Optional[int] = ..., text: _Optional[str] = ...) -> None: ...
