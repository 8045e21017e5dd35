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

class TeacherGeneration(_message.Message):
    __slots__ = ("backend", "model", "pool", "endpoint", "thought_types", "samples", "variants", "sampling", "batch_size", "contamination_guard", "no_contamination_guard")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    NO_CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    pool: str
    endpoint: str
    thought_types: _containers.RepeatedScalarFieldContainer[str]
    samples: int
    variants: int
    sampling: Sampling
    batch_size: int
    contamination_guard: _containers.RepeatedScalarFieldContainer[str]
    no_contamination_guard: bool
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., pool: _Optional[str] = ..., endpoint: _Optional[str] = ..., thought_types: _Optional[_Iterable[str]] = ..., samples: _Optional[int] = ..., variants: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., batch_size: _Optional[int] = ..., contamination_guard: _Optional[_Iterable[str]] = ..., no_contamination_guard: _Optional[bool] = ...) -> None: ...

class TeacherJobConfig(_message.Message):
    __slots__ = ("backend", "model", "pool", "endpoint", "thought_types", "samples", "variants", "sampling", "batch_size", "contamination_guard", "no_contamination_guard", "problems", "limit", "out", "share")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    POOL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    VARIANTS_FIELD_NUMBER: _ClassVar[int]
    SAMPLING_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    NO_CONTAMINATION_GUARD_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    pool: str
    endpoint: str
    thought_types: _containers.RepeatedScalarFieldContainer[str]
    samples: int
    variants: int
    sampling: Sampling
    batch_size: int
    contamination_guard: _containers.RepeatedScalarFieldContainer[str]
    no_contamination_guard: bool
    problems: str
    limit: int
    out: str
    share: bool
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., pool: _Optional[str] = ..., endpoint: _Optional[str] = ..., thought_types: _Optional[_Iterable[str]] = ..., samples: _Optional[int] = ..., variants: _Optional[int] = ..., sampling: _Optional[_Union[Sampling, _Mapping]] = ..., batch_size: _Optional[int] = ..., contamination_guard: _Optional[_Iterable[str]] = ..., no_contamination_guard: _Optional[bool] = ..., problems: _Optional[str] = ..., limit: _Optional[int] = ..., out: _Optional[str] = ..., share: _Optional[bool] = ...) -> None: ...
