from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KIND_UNSPECIFIED: _ClassVar[Kind]
    KIND_DATASET: _ClassVar[Kind]
    KIND_PROBLEMS: _ClassVar[Kind]
    KIND_MODEL: _ClassVar[Kind]
KIND_UNSPECIFIED: Kind
KIND_DATASET: Kind
KIND_PROBLEMS: Kind
KIND_MODEL: Kind

class PushHeader(_message.Message):
    __slots__ = ("name", "kind", "parents", "meta", "share", "stage", "config", "code_version")
    class MetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: Kind
    parents: _containers.RepeatedScalarFieldContainer[str]
    meta: _containers.ScalarMap[str, str]
    share: bool
    stage: str
    config: _struct_pb2.Struct
    code_version: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[Kind, str]] = ..., parents: _Optional[_Iterable[str]] = ..., meta: _Optional[_Mapping[str, str]] = ..., share: _Optional[bool] = ..., stage: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., code_version: _Optional[str] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("header", "rows")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    header: PushHeader
    rows: bytes
    def __init__(self, header: _Optional[_Union[PushHeader, _Mapping]] = ..., rows: _Optional[bytes] = ...) -> None: ...

class PushFilesRequest(_message.Message):
    __slots__ = ("header", "file")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    header: PushHeader
    file: FileChunk
    def __init__(self, header: _Optional[_Union[PushHeader, _Mapping]] = ..., file: _Optional[_Union[FileChunk, _Mapping]] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("path", "data")
    PATH_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    path: str
    data: bytes
    def __init__(self, path: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class RowsChunk(_message.Message):
    __slots__ = ("rows",)
    ROWS_FIELD_NUMBER: _ClassVar[int]
    rows: bytes
    def __init__(self, rows: _Optional[bytes] = ...) -> None: ...

class RefRequest(_message.Message):
    __slots__ = ("ref",)
    REF_FIELD_NUMBER: _ClassVar[int]
    ref: str
    def __init__(self, ref: _Optional[str] = ...) -> None: ...

class ListRequest(_message.Message):
    __slots__ = ("include_shared", "include_deleted", "name")
    INCLUDE_SHARED_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_DELETED_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    include_shared: bool
    include_deleted: bool
    name: str
    def __init__(self, include_shared: _Optional[bool] = ..., include_deleted: _Optional[bool] = ..., name: _Optional[str] = ...) -> None: ...

class ListResponse(_message.Message):
    __slots__ = ("manifests",)
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    manifests: _containers.RepeatedCompositeFieldContainer[Manifest]
    def __init__(self, manifests: _Optional[_Iterable[_Union[Manifest, _Mapping]]] = ...) -> None: ...

class TagRequest(_message.Message):
    __slots__ = ("ref", "tag")
    REF_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    ref: str
    tag: str
    def __init__(self, ref: _Optional[str] = ..., tag: _Optional[str] = ...) -> None: ...

class CreateTeamRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class CreateTokenRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class TokenResponse(_message.Message):
    __slots__ = ("team", "token")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    team: str
    token: str
    def __init__(self, team: _Optional[str] = ..., token: _Optional[str] = ...) -> None: ...

class ListTeamsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class TeamInfo(_message.Message):
    __slots__ = ("team", "created_at", "active_tokens")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_TOKENS_FIELD_NUMBER: _ClassVar[int]
    team: str
    created_at: str
    active_tokens: int
    def __init__(self, team: _Optional[str] = ..., created_at: _Optional[str] = ..., active_tokens: _Optional[int] = ...) -> None: ...

class ListTeamsResponse(_message.Message):
    __slots__ = ("teams",)
    TEAMS_FIELD_NUMBER: _ClassVar[int]
    teams: _containers.RepeatedCompositeFieldContainer[TeamInfo]
    def __init__(self, teams: _Optional[_Iterable[_Union[TeamInfo, _Mapping]]] = ...) -> None: ...

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Principal(_message.Message):
    __slots__ = ("team", "admin", "token_id", "expires_at")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    team: str
    admin: bool
    token_id: str
    expires_at: str
    def __init__(self, team: _Optional[str] = ..., admin: _Optional[bool] = ..., token_id: _Optional[str] = ..., expires_at: _Optional[str] = ...) -> None: ...

class TokenInfo(_message.Message):
    __slots__ = ("id", "team", "created_at", "expires_at", "revoked_at", "state", "current")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    team: str
    created_at: str
    expires_at: str
    revoked_at: str
    state: str
    current: bool
    def __init__(self, id: _Optional[str] = ..., team: _Optional[str] = ..., created_at: _Optional[str] = ..., expires_at: _Optional[str] = ..., revoked_at: _Optional[str] = ..., state: _Optional[str] = ..., current: _Optional[bool] = ...) -> None: ...

class ListTokensRequest(_message.Message):
    __slots__ = ("team",)
    TEAM_FIELD_NUMBER: _ClassVar[int]
    team: str
    def __init__(self, team: _Optional[str] = ...) -> None: ...

class ListTokensResponse(_message.Message):
    __slots__ = ("tokens",)
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    tokens: _containers.RepeatedCompositeFieldContainer[TokenInfo]
    def __init__(self, tokens: _Optional[_Iterable[_Union[TokenInfo, _Mapping]]] = ...) -> None: ...

class RevokeTokenRequest(_message.Message):
    __slots__ = ("team", "id")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    team: str
    id: str
    def __init__(self, team: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class RotateTokenRequest(_message.Message):
    __slots__ = ("team", "id", "grace_seconds")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    team: str
    id: str
    grace_seconds: float
    def __init__(self, team: _Optional[str] = ..., id: _Optional[str] = ..., grace_seconds: _Optional[float] = ...) -> None: ...

class RotateTokenResponse(_message.Message):
    __slots__ = ("team", "token", "issued", "replaced")
    TEAM_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ISSUED_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    team: str
    token: str
    issued: TokenInfo
    replaced: TokenInfo
    def __init__(self, team: _Optional[str] = ..., token: _Optional[str] = ..., issued: _Optional[_Union[TokenInfo, _Mapping]] = ..., replaced: _Optional[_Union[TokenInfo, _Mapping]] = ...) -> None: ...

class Shard(_message.Message):
    __slots__ = ("key", "rows", "bytes", "compressed_bytes", "sha256")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    COMPRESSED_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    key: str
    rows: int
    bytes: int
    compressed_bytes: int
    sha256: str
    def __init__(self, key: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., compressed_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class StoredFile(_message.Message):
    __slots__ = ("path", "key", "bytes", "sha256")
    PATH_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    path: str
    key: str
    bytes: int
    sha256: str
    def __init__(self, path: _Optional[str] = ..., key: _Optional[str] = ..., bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class Lineage(_message.Message):
    __slots__ = ("parents", "stage", "config", "code_version")
    PARENTS_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CODE_VERSION_FIELD_NUMBER: _ClassVar[int]
    parents: _containers.RepeatedScalarFieldContainer[str]
    stage: str
    config: _struct_pb2.Struct
    code_version: str
    def __init__(self, parents: _Optional[_Iterable[str]] = ..., stage: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., code_version: _Optional[str] = ...) -> None: ...

class Manifest(_message.Message):
    __slots__ = ("schema_version", "team", "name", "version", "kind", "ref", "content_sha256", "created_at", "created_by", "rows", "bytes", "shards", "files", "lineage", "meta", "counts_by_thought_type", "counts_by_status", "shared", "tags", "deleted_at")
    class MetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class CountsByThoughtTypeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CountsByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    CONTENT_SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    LINEAGE_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_THOUGHT_TYPE_FIELD_NUMBER: _ClassVar[int]
    COUNTS_BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    SHARED_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    DELETED_AT_FIELD_NUMBER: _ClassVar[int]
    schema_version: int
    team: str
    name: str
    version: int
    kind: Kind
    ref: str
    content_sha256: str
    created_at: str
    created_by: str
    rows: int
    bytes: int
    shards: _containers.RepeatedCompositeFieldContainer[Shard]
    files: _containers.RepeatedCompositeFieldContainer[StoredFile]
    lineage: Lineage
    meta: _containers.ScalarMap[str, str]
    counts_by_thought_type: _containers.ScalarMap[str, int]
    counts_by_status: _containers.ScalarMap[str, int]
    shared: bool
    tags: _containers.RepeatedScalarFieldContainer[str]
    deleted_at: str
    def __init__(self, schema_version: _Optional[int] = ..., team: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[int] = ..., kind: _Optional[_Union[Kind, str]] = ..., ref: _Optional[str] = ..., content_sha256: _Optional[str] = ..., created_at: _Optional[str] = ..., created_by: _Optional[str] = ..., rows: _Optional[int] = ..., bytes: _Optional[int] = ..., shards: _Optional[_Iterable[_Union[Shard, _Mapping]]] = ..., files: _Optional[_Iterable[_Union[StoredFile, _Mapping]]] = ..., lineage: _Optional[_Union[Lineage, _Mapping]] = ..., meta: _Optional[_Mapping[str, str]] = ..., counts_by_thought_type: _Optional[_Mapping[str, int]] = ..., counts_by_status: _Optional[_Mapping[str, int]] = ..., shared: _Optional[bool] = ..., tags: _Optional[_Iterable[str]] = ..., deleted_at: _Optional[str] = ...) -> None: ...
