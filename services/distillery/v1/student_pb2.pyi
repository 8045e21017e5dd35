from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SolveRequest(_message.Message):
    __slots__ = ("question", "methods", "strategy", "samples", "temperature")
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    question: str
    methods: _containers.RepeatedScalarFieldContainer[str]
    strategy: str
    samples: int
    temperature: float
    def __init__(self, question: _Optional[str] = ..., methods: _Optional[_Iterable[str]] = ..., strategy: _Optional[str] = ..., samples: _Optional[int] = ..., temperature: _Optional[float] = ...) -> None: ...

class ThoughtResult(_message.Message):
    __slots__ = ("type", "text", "answer", "status", "error", "sample")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    answer: float
    status: str
    error: str
    sample: int
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., answer: _Optional[float] = ..., status: _Optional[str] = ..., error: _Optional[str] = ..., sample: _Optional[int] = ...) -> None: ...

class SolveResponse(_message.Message):
    __slots__ = ("answer", "method", "thoughts", "latency_ms", "model")
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    THOUGHTS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    answer: float
    method: str
    thoughts: _containers.RepeatedCompositeFieldContainer[ThoughtResult]
    latency_ms: float
    model: str
    def __init__(self, answer: _Optional[float] = ..., method: _Optional[str] = ..., thoughts: _Optional[_Iterable[_Union[ThoughtResult, _Mapping]]] = ..., latency_ms: _Optional[float] = ..., model: _Optional[str] = ...) -> None: ...
