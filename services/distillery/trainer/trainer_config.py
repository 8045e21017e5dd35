"""The training contract: what a fine-tuning job is, defined once.

``TrainerConfig`` is the one definition of a job. Everything else is derived from it:

- ``trainer.proto``'s ``TrainerConfig`` message is generated from it (``make protos``; the
  generator keeps every field's number, so old clients keep working);
- the job spec's ``student:`` section is :class:`StudentTraining`, the same fields minus the
  two the jobs controller fills in (``dataset``, ``out``);
- the Ray workers and the local launcher receive it as it is.

So a new hyper-parameter is one field here. Defaults train SmolLM2-135M-Instruct on a laptop
(2 CPU workers, gloo, the token batch sized from the memory each worker finds free); the same
config with ``workers``/``use_gpu`` set runs on a KubeRay cluster.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from distillery.student.model_refs import check_reference
from distillery.student.thought_text import THOUGHT_TYPES

# The paper's names for the students each mix of thought types makes.
RECIPES = {"eotd": ("eot",), "potd": ("pot",), "cotd": ("cot",), "etd": THOUGHT_TYPES}
DEFAULT_EPOCHS = 3.0
INT32_MAX = (1 << 31) - 1  # counts travel as int32 (trainer_config.proto)
ALL_LINEAR = "all-linear"


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, le=4096, description="Rank of the update matrices.")
    alpha: int = Field(32, ge=1, le=65536, description="Scaling (alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the adapters' input.")
    target_modules: tuple[str, ...] = Field(
        (ALL_LINEAR,), min_length=1,
        description=f"Module names to adapt; '{ALL_LINEAR}' adapts every linear layer but the head.")

    @field_validator("target_modules", mode="before")
    @classmethod
    def _one_name(cls, value):
        return (value,) if isinstance(value, str) else value


class StudentTraining(BaseModel):
    """How to fine-tune a student: a training job without its dataset and output name.

    This is the job spec's ``student:`` section as it is; ``recipe`` and ``gpu`` are accepted as
    the spec's short names for ``thought_types`` and ``use_gpu``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    base: str = Field("smollm2-135m-instruct", description="Student to start from: an alias or a registry model "
                                                           "[TEAM/]NAME[@VERSION] (the service pins the version).")
    thought_types: tuple[str, ...] = Field(
        THOUGHT_TYPES, validation_alias=AliasChoices("thought_types", "recipe"),
        description="Types to learn: a recipe (etd: all three; eotd, potd, cotd: one) or thought types.")
    epochs: float | None = Field(None, gt=0, description=f"Passes over the data (default {DEFAULT_EPOCHS:g} "
                                                         "unless max_steps is set; they exclude each other).")
    max_steps: int | None = Field(None, ge=1, le=INT32_MAX, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate (cosine schedule after warm-up).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of the steps spent warming up.")
    batch_tokens: int | None = Field(None, ge=64, le=1 << 24, description="Padded tokens per batch per worker "
                                     "(length bucketing); None sizes it from the memory each worker finds free.")
    max_length: int = Field(512, ge=16, le=1 << 20, description="Longest example in tokens; longer thoughts are cut.")
    lora: LoraConfig | None = Field(None, description="Train LoRA adapters (merged into the registered model) "
                                                      "instead of every weight.")
    checkpoint_every: int = Field(200, ge=1, le=INT32_MAX, description="Steps between checkpoints in the object "
                                                                        "store.")
    keep_checkpoints: int = Field(2, ge=1, le=1000, description="Checkpoints kept per run.")
    workers: int = Field(2, ge=1, le=256, description="Ray Train workers (one process each, DDP).")
    use_gpu: bool = Field(False, validation_alias=AliasChoices("use_gpu", "gpu"),
                          description="One GPU per worker, NCCL; CPU workers use gloo.")
    cpus_per_worker: float = Field(1, gt=0, description="CPUs Ray reserves per worker.")
    max_failures: int = Field(2, ge=0, le=100, description="Worker-group restarts Ray Train may make, each from "
                                                           "the last checkpoint.")
    seed: int = Field(0, ge=0, le=INT32_MAX, description="Seeds the data order and the initialisation of adapters.")
    bf16: bool = Field(True, description="bfloat16 autocast on GPU (CPU trains in float32).")
    compile: bool = Field(False, description="torch.compile the model (pays off on a GPU for long runs).")

    @field_validator("base")
    @classmethod
    def _tenant_reference(cls, value: str) -> str:
        # Jobs arrive on a team's behalf and run on shared nodes: a directory could be another
        # team's cached model. The CLI pushes a local directory to the registry first.
        return check_reference(value, None)

    @field_validator("thought_types", mode="before")
    @classmethod
    def _recipe_or_types(cls, value):
        if isinstance(value, str):
            value = RECIPES.get(value.lower(), value.split(","))
        return tuple(value)

    @field_validator("thought_types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(THOUGHT_TYPES))
        if unknown or not value:
            raise ValueError(f"thought types must be some of {', '.join(THOUGHT_TYPES)} (got {', '.join(value) or 'none'})")
        return tuple(t for t in THOUGHT_TYPES if t in value)

    @model_validator(mode="after")
    def _one_length(self):
        if self.epochs is not None and self.max_steps is not None:
            raise ValueError("`epochs` and `max_steps` exclude each other")
        if self.max_steps is None and self.epochs is None:
            self.epochs = DEFAULT_EPOCHS
        if self.max_steps is not None and self.checkpoint_every > self.max_steps:
            self.checkpoint_every = self.max_steps  # keep fewer checkpoints than steps made
        return self

    @property
    def recipe(self) -> str:
        return next((name for name, types in RECIPES.items() if types == self.thought_types), "custom")

    def to_trainer_config(self, dataset: str, out: str) -> TrainerConfig:
        """The job that trains this student on ``dataset`` and registers it as ``out``."""
        return TrainerConfig(**self.model_dump(), dataset=dataset, out=out)


class TrainerConfig(StudentTraining):
    """One fine-tuning job. Everything here is recorded in the model's lineage."""

    dataset: str = Field(description="NAME@VERSION of a verified thought dataset in the registry.")
    out: str = Field(description="Name of the model to register; the same name resumes an interrupted job.")

    def run_key(self) -> str:
        """Same job (dataset version, student, hyper-parameters) -> same key -> Ray Train resumes it."""
        material = self.model_dump(mode="json", exclude={"workers", "use_gpu", "cpus_per_worker", "max_failures"})
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]
