from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Sampling(_message.Message):
    __slots__ = ("temperature", "top_p", "max_tokens", "seed")
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    temperature: float
    top_p: float
    max_tokens: int
    seed: int
    def __init__(self, temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., max_tokens: _Optional[int] = ..., seed: _Optional[int] = ...) -> None: ...

class TeacherJob(_message.Message):
    __slots__ = ("problems", "limit", "backend", "model", "endpoint", "thought_types", "samples", "sampling", "out", "share", "batch_size", "pool", "endpoint_api_key", "variants", "contamination_guard", "no_contamination_guard")
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_API_KEY_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    NO_CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    problems: str
    limit: int
    backend: str
    model: str
    endpoint: str
    thought_types: _containers.RepeatedScalarFieldContainer[str]
    samples: int
    sampling: Sampling
    out: str
    share: bool
    batch_size: int
    pool: str
    endpoint_api_key: str
    variants: int
    contamination_guard: _containers.RepeatedScalarFieldContainer[str]
    no_contamination_guard: bool
    def __init__(self, problems: _Optional[str] = ..., limit: _Optional[int] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., endpoint: _Optional[str] = ..., thought_types: _Optional[_Iterable[str]] = ..., samples: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., out: _Optional[str] = ..., share: _Optional[bool] = ..., batch_size: _Optional[int] = ..., pool: _Optional[str] = ..., endpoint_api_key: _Optional[str] = ..., variants: _Optional[int] = ..., contamination_guard: _Optional[_Iterable[str]] = ..., no_contamination_guard: _Optional[bool] = ...) -> None: ...

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
    __slots__ = ("problems", "backend", "model", "endpoint", "thought_types", "samples", "sampling", "pool", "endpoint_api_key", "contamination_guard", "no_contamination_guard")
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_API_KEY_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    NO_CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    problems: _containers.RepeatedCompositeFieldContainer[Problem]
    backend: str
    model: str
    endpoint: str
    thought_types: _containers.RepeatedScalarFieldContainer[str]
    samples: int
    sampling: Sampling
    pool: str
    endpoint_api_key: str
    contamination_guard: _containers.RepeatedScalarFieldContainer[str]
    no_contamination_guard: bool
    def __init__(self, problems: _Optional[_Iterable[_Union[Problem, _Mapping]]] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., endpoint: _Optional[str] = ..., thought_types: _Optional[_Iterable[str]] = ..., samples: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., pool: _Optional[str] = ..., endpoint_api_key: _Optional[str] = ..., contamination_guard: _Optional[_Iterable[str]] = ..., no_contamination_guard: _Optional[bool] = ...) -> None: ...

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
