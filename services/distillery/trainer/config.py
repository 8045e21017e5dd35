"""What a fine-tuning job is: the dataset, the student, the hyper-parameters, the cluster shape.

Defaults train SmolLM2-135M-Instruct on a laptop (2 CPU workers, gloo, the token batch sized
from the memory each worker finds free); the same model with ``workers``/``use_gpu`` set runs
on a KubeRay cluster, and ``distillery train --local`` runs it in one process.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from distillery.core.model_refs import check_reference
from distillery.core.s3 import S3Config
from distillery.core.thought_text import THOUGHT_TYPES

# The paper's names for the students each mix of thought types makes.
RECIPES = {"eotd": ("eot",), "potd": ("pot",), "cotd": ("cot",), "etd": THOUGHT_TYPES}


class LoraConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    r: int = Field(16, ge=1, description="Rank of the update matrices.")
    alpha: int = Field(32, ge=1, description="Scaling (alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] | Literal["all-linear"] = Field(
        "all-linear", description="Module names to adapt; 'all-linear' adapts every linear layer but the head.")


class TrainConfig(BaseModel):
    """One fine-tuning job. Everything here is recorded in the model's lineage."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="NAME@VERSION of a verified thought dataset in the registry.")
    base: str = Field("smollm2-135m-instruct", description="Student to start from: an alias or a registry model "
                                                           "[TEAM/]NAME[@VERSION] (the service pins the version).")
    out: str = Field(description="Name of the model to register; the same name resumes an interrupted job.")
    thought_types: tuple[str, ...] = Field(THOUGHT_TYPES, description="Types to learn: one (EoTD/PoTD/CoTD) or all (ETD).")
    epochs: float = Field(3, gt=0, description="Passes over the data (ignored when max_steps is set).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_ratio: float = Field(0.05, ge=0, lt=1)
    batch_tokens: int | None = Field(None, ge=64, description="Padded tokens per batch per worker (length "
                                     "bucketing); None sizes it from the memory each worker finds free.")
    max_length: int = Field(512, ge=16, description="Longest example in tokens; longer thoughts are cut.")
    lora: LoraConfig | None = Field(None, description="Train LoRA adapters instead of every weight.")
    checkpoint_every: int = Field(200, ge=1, description="Steps between checkpoints in the object store.")
    keep_checkpoints: int = Field(2, ge=1)
    workers: int = Field(2, ge=1, description="Ray Train workers (one process each, DDP).")
    use_gpu: bool = Field(False, description="One GPU per worker, NCCL; CPU workers use gloo.")
    cpus_per_worker: float = Field(1, gt=0)
    max_failures: int = Field(2, ge=0, description="Worker-group restarts Ray Train may make, each from the last checkpoint.")
    seed: int = 0
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
    def _keep_fewer_than_made(self) -> TrainConfig:
        if self.max_steps is not None and self.checkpoint_every > self.max_steps:
            self.checkpoint_every = self.max_steps
        return self

    @property
    def recipe(self) -> str:
        return next((name for name, types in RECIPES.items() if types == self.thought_types), "custom")

    def run_key(self) -> str:
        """Same job (dataset version, student, hyper-parameters) -> same key -> Ray Train resumes it."""
        material = self.model_dump(mode="json", exclude={"workers", "use_gpu", "cpus_per_worker", "max_failures"})
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:12]


class TrainerServiceConfig(BaseModel):
    """The service: where checkpoints go and which Ray cluster runs the workers."""

    model_config = ConfigDict(extra="forbid")

    checkpoints: S3Config = Field(default_factory=lambda: S3Config(bucket="distillery-checkpoints"),
                                  description="Object store for Ray Train's storage_path.")
    ray_address: str | None = Field(None, description="Ray cluster (ray://... or auto); None starts a local one.")
    ray_num_cpus: int | None = Field(None, description="CPUs of the local Ray cluster (None: all).")
    concurrent_jobs: int = Field(1, ge=1, description="Jobs running at once; the rest queue.")
