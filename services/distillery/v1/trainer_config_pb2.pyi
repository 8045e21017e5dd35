from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LoraConfig(_message.Message):
    __slots__ = ("r", "alpha", "dropout", "target_modules")
    R_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    DROPOUT_FIELD_NUMBER: _ClassVar[int]
    TARGET_MODULES_FIELD_NUMBER: _ClassVar[int]
    r: int
    alpha: int
    dropout: float
    target_modules: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, r: _Optional[int] = ..., alpha: _Optional[int] = ..., dropout: _Optional[float] = ..., target_modules: _Optional[_Iterable[str]] = ...) -> None: ...

class TrainerConfig(_message.Message):
    __slots__ = ("base", "thought_types", "epochs", "max_steps", "learning_rate", "weight_decay", "warmup_ratio", "batch_tokens", "max_length", "lora", "checkpoint_every", "keep_checkpoints", "workers", "use_gpu", "cpus_per_worker", "max_failures", "seed", "bf16", "compile", "dataset", "out")
    BASE_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_TYPES_FIELD_NUMBER: _ClassVar[int]
    EPOCHS_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    LEARNING_RATE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_DECAY_FIELD_NUMBER: _ClassVar[int]
    WARMUP_RATIO_FIELD_NUMBER: _ClassVar[int]
    BATCH_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    LORA_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINT_EVERY_FIELD_NUMBER: _ClassVar[int]
    KEEP_CHECKPOINTS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    USE_GPU_FIELD_NUMBER: _ClassVar[int]
    CPUS_PER_WORKER_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    BF16_FIELD_NUMBER: _ClassVar[int]
    COMPILE_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    OUT_FIELD_NUMBER: _ClassVar[int]
    base: str
    thought_types: _containers.RepeatedScalarFieldContainer[str]
    epochs: float
    max_steps: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    batch_tokens: int
    max_length: int
    lora: LoraConfig
    checkpoint_every: int
    keep_checkpoints: int
    workers: int
    use_gpu: bool
    cpus_per_worker: float
    max_failures: int
    seed: int
    bf16: bool
    compile: bool
    dataset: str
    out: str
    def __init__(self, base: _Optional[str] = ..., thought_types: _Optional[_Iterable[str]] = ..., epochs: _Optional[float] = ..., max_steps: _Optional[int] = ..., learning_rate: _Optional[float] = ..., weight_decay: _Optional[float] = ..., warmup_ratio: _Optional[float] = ..., batch_tokens: _Optional[int] = ..., max_length: _Optional[int] = ..., lora: _Optional[_Union[LoraConfig, _Mapping]] = ..., checkpoint_every: _Optional[int] = ..., keep_checkpoints: _Optional[int] = ..., workers: _Optional[int] = ..., use_gpu: _Optional[bool] = ..., cpus_per_worker: _Optional[float] = ..., max_failures: _Optional[int] = ..., seed: _Optional[int] = ..., bf16: _Optional[bool] = ..., compile: _Optional[bool] = ..., dataset: _Optional[str] = ..., out: _Optional[str] = ...) -> None: ...
