from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ThoughtType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    THOUGHT_TYPE_UNSPECIFIED: _ClassVar[ThoughtType]
    THOUGHT_TYPE_COT: _ClassVar[ThoughtType]
    THOUGHT_TYPE_POT: _ClassVar[ThoughtType]
    THOUGHT_TYPE_EOT: _ClassVar[ThoughtType]

class VerdictStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_STATUS_UNSPECIFIED: _ClassVar[VerdictStatus]
    VERDICT_STATUS_OK: _ClassVar[VerdictStatus]
    VERDICT_STATUS_NO_ANSWER: _ClassVar[VerdictStatus]
    VERDICT_STATUS_PARSE_ERROR: _ClassVar[VerdictStatus]
    VERDICT_STATUS_EXEC_ERROR: _ClassVar[VerdictStatus]
    VERDICT_STATUS_TIMEOUT: _ClassVar[VerdictStatus]
    VERDICT_STATUS_RESOURCE_LIMIT: _ClassVar[VerdictStatus]
    VERDICT_STATUS_UNSAFE: _ClassVar[VerdictStatus]
THOUGHT_TYPE_UNSPECIFIED: ThoughtType
THOUGHT_TYPE_COT: ThoughtType
THOUGHT_TYPE_POT: ThoughtType
THOUGHT_TYPE_EOT: ThoughtType
VERDICT_STATUS_UNSPECIFIED: VerdictStatus
VERDICT_STATUS_OK: VerdictStatus
VERDICT_STATUS_NO_ANSWER: VerdictStatus
VERDICT_STATUS_PARSE_ERROR: VerdictStatus
VERDICT_STATUS_EXEC_ERROR: VerdictStatus
VERDICT_STATUS_TIMEOUT: VerdictStatus
VERDICT_STATUS_RESOURCE_LIMIT: VerdictStatus
VERDICT_STATUS_UNSAFE: VerdictStatus

class Thought(_message.Message):
    __slots__ = ("id", "thought_type", "text", "gold")
    ID_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    GOLD_FIELD_NUMBER: _ClassVar[int]
    id: str
    thought_type: ThoughtType
    text: str
    gold: float
    def __init__(self, id: _Optional[str] = ..., thought_type: _Optional[_Union[ThoughtType, str]] = ..., text: _Optional[str] = ..., gold: _Optional[float] = ...) -> None: ...

class Grading(_message.Message):
    __slots__ = ("abs_tol", "rel_tol")
    ABS_TOL_FIELD_NUMBER: _ClassVar[int]
    REL_TOL_FIELD_NUMBER: _ClassVar[int]
    abs_tol: float
    rel_tol: float
    def __init__(self, abs_tol: _Optional[float] = ..., rel_tol: _Optional[float] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("thoughts", "grading")
    THOUGHTS_FIELD_NUMBER: _ClassVar[int]
    GRADING_FIELD_NUMBER: _ClassVar[int]
    thoughts: _containers.RepeatedCompositeFieldContainer[Thought]
    grading: Grading
    def __init__(self, thoughts: _Optional[_Iterable[_Union[Thought, _Mapping]]] = ..., grading: _Optional[_Union[Grading, _Mapping]] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("index", "id", "answer", "status", "correct", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CORRECT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    answer: float
    status: VerdictStatus
    correct: bool
    error: str
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., answer: _Optional[float] = ..., status: _Optional[_Union[VerdictStatus, str]] = ..., correct: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("verdicts",)
    VERDICTS_FIELD_NUMBER: _ClassVar[int]
    verdicts: _containers.RepeatedCompositeFieldContainer[Verdict]
    def __init__(self, verdicts: _Optional[_Iterable[_Union[Verdict, _Mapping]]] = ...) -> None: ...

class GetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class IsolationLayers(_message.Message):
    __slots__ = ("network_namespace", "user_namespace", "seccomp", "landlock_abi", "privilege_drop", "rlimits", "ast_policy", "missing", "notes", "required_layers", "overridden_layers", "degraded")
    NETWORK_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    USER_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SECCOMP_FIELD_NUMBER: _ClassVar[int]
    LANDLOCK_ABI_FIELD_NUMBER: _ClassVar[int]
    PRIVILEGE_DROP_FIELD_NUMBER: _ClassVar[int]
    RLIMITS_FIELD_NUMBER: _ClassVar[int]
    AST_POLICY_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_LAYERS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDDEN_LAYERS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    network_namespace: bool
    user_namespace: bool
    seccomp: bool
    landlock_abi: int
    privilege_drop: bool
    rlimits: bool
    ast_policy: bool
    missing: _containers.RepeatedScalarFieldContainer[str]
    notes: _containers.RepeatedScalarFieldContainer[str]
    required_layers: _containers.RepeatedScalarFieldContainer[str]
    overridden_layers: _containers.RepeatedScalarFieldContainer[str]
    degraded: bool
    def __init__(self, network_namespace: _Optional[bool] = ..., user_namespace: _Optional[bool] = ..., seccomp: _Optional[bool] = ..., landlock_abi: _Optional[int] = ..., privilege_drop: _Optional[bool] = ..., rlimits: _Optional[bool] = ..., ast_policy: _Optional[bool] = ..., missing: _Optional[_Iterable[str]] = ..., notes: _Optional[_Iterable[str]] = ..., required_layers: _Optional[_Iterable[str]] = ..., overridden_layers: _Optional[_Iterable[str]] = ..., degraded: _Optional[bool] = ...) -> None: ...

class VerifierInfo(_message.Message):
    __slots__ = ("version", "isolation", "workers", "pot_timeout_s", "eot_timeout_s", "pot_memory_mb", "allowed_imports", "max_thoughts_per_call", "max_thoughts_per_stream", "max_thought_chars", "max_inflight_thoughts_per_team", "max_calls_per_team")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ISOLATION_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    POT_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    EOT_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    POT_MEMORY_MB_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_IMPORTS_FIELD_NUMBER: _ClassVar[int]
    MAX_THOUGHTS_PER_CALL_FIELD_NUMBER: _ClassVar[int]
    MAX_THOUGHTS_PER_STREAM_FIELD_NUMBER: _ClassVar[int]
    MAX_THOUGHT_CHARS_FIELD_NUMBER: _ClassVar[int]
    MAX_INFLIGHT_THOUGHTS_PER_TEAM_FIELD_NUMBER: _ClassVar[int]
    MAX_CALLS_PER_TEAM_FIELD_NUMBER: _ClassVar[int]
    version: str
    isolation: IsolationLayers
    workers: int
    pot_timeout_s: float
    eot_timeout_s: float
    pot_memory_mb: int
    allowed_imports: _containers.RepeatedScalarFieldContainer[str]
    max_thoughts_per_call: int
    max_thoughts_per_stream: int
    max_thought_chars: int
    max_inflight_thoughts_per_team: int
    max_calls_per_team: int
    def __init__(self, version: _Optional[str] = ..., isolation: _Optional[_Union[IsolationLayers, _Mapping]] = ..., workers: _Optional[int] = ..., pot_timeout_s: _Optional[float] = ..., eot_timeout_s: _Optional[float] = ..., pot_memory_mb: _Optional[int] = ..., allowed_imports: _Optional[_Iterable[str]] = ..., max_thoughts_per_call: _Optional[int] = ..., max_thoughts_per_stream: _Optional[int] = ..., max_thought_chars: _Optional[int] = ..., max_inflight_thoughts_per_team: _Optional[int] = ..., max_calls_per_team: _Optional[int] = ...) -> None: ...
